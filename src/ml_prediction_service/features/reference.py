"""Reference implementation of the feature contract (contract §5), with pandas.

This is what a training service imports (a training service could import it) and what the
service's fast path (``batch.py``) is tested against. It computes every row of a history; the
fast path computes only the newest row of many coins.

Semantics (see ``docs/features.md`` for the full table):

* A coin's history is its rows ordered by ``timestamp``; rows whose ``price_close``,
  ``price_high`` or ``volume_sol`` is NULL/NaN are not part of it.
* Windows count rows, use at least one row, and skip NULL/NaN **and ±inf** values (pandas
  ``rolling`` treats ±inf as missing); a window without a usable value gives NaN.
  A window whose usable values are all equal has exactly that mean and a std of 0 (as pandas).
  Window sums add the values newest row first; the fast path uses the same order, so both give
  bit-identical results.
* Comparisons with NaN are false; division by zero gives ±inf/NaN; at the end every NaN and
  ±inf of an added column becomes 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ml_prediction_service.arrays import FloatArray, IntArray

from .names import (
    ATH_FEATURE_NAMES,
    DEFAULT_WINDOW_SIZES,
    ENGINEERING_INPUT_COLUMNS,
    HISTORY_KEY_COLUMNS,
    get_engineered_feature_names,
    validate_window_sizes,
)

NS_PER_MINUTE = 60_000_000_000
"""Nanoseconds per minute; minutes are ``float(int64 ns difference) / NS_PER_MINUTE``."""

__all__ = ["NS_PER_MINUTE", "add_ath_features", "create_pump_detection_features"]


# --------------------------------------------------------------------------- frame plumbing


def _timestamps_ns(df: pd.DataFrame) -> IntArray:
    """Epoch nanoseconds (UTC) of the ``timestamp`` column, or of a datetime index."""
    if "timestamp" in df.columns:
        raw: pd.Series | pd.Index = df["timestamp"]
    elif isinstance(df.index, pd.DatetimeIndex) or df.index.name == "timestamp":
        raw = df.index
    else:
        raise ValueError("the frame needs a 'timestamp' column or a datetime index")
    stamps = pd.DatetimeIndex(pd.to_datetime(raw, utc=True))
    if stamps.hasnans:
        raise ValueError("timestamp must not be NULL")
    return np.asarray(stamps.as_unit("ns").asi8, dtype=np.int64)


def _as_float(values: pd.Series) -> FloatArray:
    """A numeric column as float64 (``Decimal``/nullable/None → float, NULL → NaN)."""
    return np.asarray(pd.to_numeric(values, errors="raise"), dtype=np.float64)


def _require_columns(df: pd.DataFrame, columns: Iterable[str]) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"missing columns for feature engineering: {missing}")


def _history_frame(
    df: pd.DataFrame, columns: Sequence[str]
) -> tuple[pd.DataFrame, IntArray, dict[str, FloatArray], list[IntArray]]:
    """Drop rows outside the history, sort by (mint, timestamp), split into coins.

    Returns the kept frame (a new frame; original index labels), its timestamps in ns, the
    requested columns as float arrays, and for each coin the row positions in time order.
    """
    ts_all = _timestamps_ns(df)
    values_all = {c: _as_float(df[c]) for c in columns}
    keep = np.ones(len(df), dtype=bool)
    for key in HISTORY_KEY_COLUMNS:
        if key in values_all:
            keep &= ~np.isnan(values_all[key])
    if "mint" in df.columns:
        if bool(df["mint"].isna().any()):
            raise ValueError("mint must not be NULL")
        coin_codes, _ = pd.factorize(df["mint"], sort=True)
    else:
        coin_codes = np.zeros(len(df), dtype=np.int64)
    kept = np.flatnonzero(keep)
    # np.lexsort is stable: rows with equal (mint, timestamp) keep their input order.
    order = kept[np.lexsort((ts_all[kept], np.asarray(coin_codes)[kept]))]
    frame = df.iloc[order].copy()
    ts = ts_all[order]
    values = {c: v[order] for c, v in values_all.items()}
    codes = np.asarray(coin_codes)[order]
    bounds = np.flatnonzero(np.diff(codes)) + 1
    groups = [g.astype(np.int64) for g in np.split(np.arange(len(order)), bounds) if len(g)]
    return frame, ts, values, groups


def _finite_or_zero(values: FloatArray) -> FloatArray:
    return np.where(np.isfinite(values), values, 0.0)


# ------------------------------------------------------------------------- per-coin formulas


def _ath_columns(ts_ns: IntArray, high: FloatArray, close: FloatArray) -> dict[str, FloatArray]:
    """ATH features of one coin's history (time-ordered), before the final NaN/inf rule."""
    h = pd.Series(high)
    p = pd.Series(close)
    ath = h.cummax()
    breakout = h > ath.shift(1)  # the first row compares with NaN: never a breakout
    ts = pd.Series(ts_ns, dtype="Int64")
    if bool(breakout.any()):
        last_breakout = ts.where(breakout).ffill()
        # Quirk of the training code: rows before the first breakout get 0, not "since start".
        quirk = last_breakout.isna().to_numpy(dtype=bool)
        delta = (ts - last_breakout).to_numpy(dtype=np.float64, na_value=np.nan)
        minutes = np.where(quirk, 0.0, delta / NS_PER_MINUTE)
    else:
        quirk = np.zeros(len(h), dtype=bool)
        minutes = (ts - ts.iloc[0]).to_numpy(dtype=np.float64) / NS_PER_MINUTE
    ath_np = ath.to_numpy(dtype=np.float64)
    with np.errstate(all="ignore"):
        distance = np.where(ath_np == 0, 0.0, (ath_np - p.to_numpy()) / ath_np * 100)
    return {
        "rolling_ath": ath_np,
        "ath_distance_pct": distance,
        "ath_breakout": breakout.to_numpy(dtype=np.float64),
        "minutes_since_ath": minutes,
        "ath_age_hours": minutes / 60,
        "ath_is_recent": ((minutes < 60) & ~quirk).astype(np.float64),
        "ath_is_old": ((minutes > 1440) & ~quirk).astype(np.float64),
    }


def _shift(values: FloatArray, k: int) -> FloatArray:
    """``values`` moved ``k`` rows later (``Series.shift(k)``): row i holds row i-k, or NaN."""
    out = np.full(len(values), np.nan)
    if k < len(values):
        out[k:] = values[: len(values) - k]
    return out


class _Window:
    """Rolling aggregates of one series over the last ``w`` rows (at least one row).

    NaN and ±inf are skipped (pandas ``rolling`` semantics). ``lag`` = 1 gives the value the
    window had at the previous row.
    """

    def __init__(self, values: FloatArray, w: int, lag: int = 0) -> None:
        usable = np.where(np.isfinite(values), values, np.nan)
        total = np.zeros(len(usable))
        count = np.zeros(len(usable))
        low = np.full(len(usable), np.nan)
        high = np.full(len(usable), np.nan)
        shifted: list[FloatArray] = []
        for k in range(lag, lag + w):  # newest row first
            xk = _shift(usable, k)
            ok = ~np.isnan(xk)
            total = total + np.where(ok, xk, 0.0)
            count = count + ok
            low = np.fmin(low, xk)
            high = np.fmax(high, xk)
            shifted.append(xk)
        self._shifted = shifted
        self.count = count
        self.constant = low == high  # False when the window is empty (NaN == NaN is False)
        self.sum = np.where(count > 0, total, np.nan)
        with np.errstate(all="ignore"):
            self.mean = np.where(self.constant, low, np.where(count > 0, total / count, np.nan))

    def std(self) -> FloatArray:
        """Sample standard deviation (ddof=1); NaN with fewer than two values."""
        squares = np.zeros(len(self.count))
        with np.errstate(all="ignore"):
            for xk in self._shifted:
                d = xk - self.mean
                squares = squares + np.where(np.isnan(xk), 0.0, d * d)
            spread = np.sqrt(squares / (self.count - 1))
        return np.where(self.count < 2, np.nan, np.where(self.constant, 0.0, spread))


def _pct_change(values: FloatArray, w: int) -> FloatArray:
    """Change vs ``w`` rows earlier as a fraction, ``x / x.shift(w) - 1`` (pandas
    ``pct_change(w, fill_method=None)``): NaN without a row ``w`` earlier or with a NULL."""
    s = pd.Series(values)
    with np.errstate(all="ignore"):
        return np.asarray(s / s.shift(w) - 1, dtype=np.float64)


def _flag(condition: NDArray[np.bool_] | pd.Series) -> FloatArray:
    return np.asarray(condition, dtype=np.float64)


def _engineered_columns(
    values: dict[str, FloatArray], ath: dict[str, FloatArray], ws: Sequence[int]
) -> dict[str, FloatArray]:
    """The windowed features of one coin's history, before the final NaN/inf rule."""

    def zero_filled(name: str) -> FloatArray:
        return np.where(np.isnan(values[name]), 0.0, values[name])

    dev = zero_filled("dev_sold_amount")
    pressure = zero_filled("buy_pressure_ratio")
    whale_buy = zero_filled("whale_buy_volume_sol")
    whale_sell = zero_filled("whale_sell_volume_sol")
    volatility = values["volatility_pct"]
    signers = values["unique_signer_ratio"]
    net_volume = values["net_volume_sol"]
    mcap = values["market_cap_close"]
    close = values["price_close"]
    volume = values["volume_sol"]

    out: dict[str, FloatArray] = {}
    with np.errstate(all="ignore"):
        # 1. dev sold
        out["dev_sold_flag"] = _flag(dev > 0)
        out["dev_sold_cumsum"] = np.asarray(pd.Series(dev).cumsum(), dtype=np.float64)
        for w in ws:
            out[f"dev_sold_spike_{w}"] = _flag(_Window(dev, w).sum > 0)
        # 2. buy pressure
        for w in ws:
            ma = _Window(pressure, w).mean
            out[f"buy_pressure_ma_{w}"] = ma
            out[f"buy_pressure_trend_{w}"] = pressure - ma
        # 3. whales
        out["whale_net_volume"] = whale_buy - whale_sell
        for w in ws:
            out[f"whale_activity_{w}"] = _Window(whale_buy, w).sum + _Window(whale_sell, w).sum
        # 4. volatility
        for w in ws:
            ma = _Window(volatility, w).mean
            out[f"volatility_ma_{w}"] = ma
            out[f"volatility_spike_{w}"] = _flag(volatility > 1.5 * ma)
        # 5. wash trading
        for w in ws:
            out[f"wash_trading_flag_{w}"] = _flag(_Window(signers, w).mean < 0.15)
        # 6. net volume; the flip compares the sign state with the previous row (none → 0)
        buying = pd.Series(net_volume > 0).astype(np.int8)
        flip = _flag(buying.diff().fillna(0).ne(0))
        for w in ws:
            out[f"net_volume_ma_{w}"] = _Window(net_volume, w).mean
            out[f"volume_flip_{w}"] = flip
        # 7. price momentum
        for w in ws:
            change = _pct_change(close, w) * 100
            out[f"price_change_{w}"] = change
            out[f"price_roc_{w}"] = change.copy()
        # 8. volume
        for w in ws:
            window = _Window(volume, w)
            out[f"volume_ratio_{w}"] = volume / window.mean
            out[f"volume_spike_{w}"] = (volume - window.mean) / window.std()
        # 9. market cap velocity in percent, with the training code's own formula
        #    (mc − mc.shift(w)) / mc.shift(w) × 100 (not pct_change: they differ in rounding)
        for w in ws:
            earlier = _shift(mcap, w)
            out[f"mcap_velocity_{w}"] = (mcap - earlier) / earlier * 100
        # 10. ATH dynamics
        breakout_volume = ath["ath_breakout"] * volume
        for w in ws:
            trend = _Window(ath["ath_distance_pct"], w).mean
            previous = _Window(ath["ath_distance_pct"], w, lag=1).mean
            out[f"ath_distance_trend_{w}"] = trend
            out[f"ath_approach_{w}"] = _flag(trend < previous)
            out[f"ath_breakout_count_{w}"] = _Window(ath["ath_breakout"], w).sum
            out[f"ath_breakout_volume_ma_{w}"] = _Window(breakout_volume, w).mean
            out[f"ath_age_trend_{w}"] = _Window(ath["minutes_since_ath"], w).mean
    return out


# --------------------------------------------------------------------------------- public API


def add_ath_features(df: pd.DataFrame) -> pd.DataFrame:
    """Return a new frame with the seven ATH (full-history) features added, per coin.

    Needs ``price_high``, ``price_close`` and a ``timestamp`` column (or datetime index);
    ``mint`` separates coins (absent = one coin). Rows outside the history (NULL
    ``price_close``/``price_high``/``volume_sol``) are dropped; rows come back ordered by
    (mint, timestamp) with their original index labels. NaN/±inf results become 0.
    """
    _require_columns(df, ("price_high", "price_close"))
    columns = [c for c in HISTORY_KEY_COLUMNS if c in df.columns]
    frame, ts, values, groups = _history_frame(df, columns)
    result = {name: np.zeros(len(frame)) for name in ATH_FEATURE_NAMES}
    for rows in groups:
        ath = _ath_columns(ts[rows], values["price_high"][rows], values["price_close"][rows])
        for name in ATH_FEATURE_NAMES:
            result[name][rows] = ath[name]
    for name in ATH_FEATURE_NAMES:
        frame[name] = _finite_or_zero(result[name])
    return frame


def create_pump_detection_features(
    df: pd.DataFrame, window_sizes: Sequence[int] = DEFAULT_WINDOW_SIZES
) -> pd.DataFrame:
    """Return a new frame: the history's original columns, the ATH features and every
    engineered feature (contract order), for one coin (or several, separated by ``mint``).

    The snapshot's feature row is the last row of this function applied to the coin's
    history up to and including the snapshot. Rows outside the history are dropped; rows come
    back ordered by (mint, timestamp) with their original index labels. Original columns are
    left as they were; added columns are float64 with NaN/±inf replaced by 0.
    """
    ws = validate_window_sizes(window_sizes)
    _require_columns(df, ENGINEERING_INPUT_COLUMNS)
    frame, ts, values, groups = _history_frame(df, ENGINEERING_INPUT_COLUMNS)
    names = list(ATH_FEATURE_NAMES) + get_engineered_feature_names(ws)
    result = {name: np.zeros(len(frame)) for name in names}
    for rows in groups:
        coin = {c: v[rows] for c, v in values.items()}
        ath = _ath_columns(ts[rows], coin["price_high"], coin["price_close"])
        engineered = _engineered_columns(coin, ath, ws)
        for name in names:
            result[name][rows] = ath[name] if name in ath else engineered[name]
    added = pd.DataFrame({name: _finite_or_zero(result[name]) for name in names}, index=frame.index)
    kept = frame.drop(columns=[c for c in names if c in frame.columns])
    return pd.concat([kept, added], axis=1)
