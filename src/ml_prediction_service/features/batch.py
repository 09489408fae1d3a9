"""Fast path: the newest snapshot's features for many coins at once, vectorised with numpy.

Input: a :class:`~.tail.TailBatch` (each coin's last ``K`` history rows, right-aligned; ``K``
at least ``max(window) + 1`` unless the tail holds the coin's whole history) and a
:class:`~.state.PrefixBatch` (aggregates of each coin's rows before its tail). Output: one
row per coin, equal to the last row of ``create_pump_detection_features`` applied to the
coin's whole history up to the snapshot.

There is no per-coin Python loop: loops run over window offsets (at most ``max(window)``
iterations), each one a numpy operation over all coins and all windowed series at once. Window
sums add values newest row first, exactly as the reference does, so results are bit-identical.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

from ml_prediction_service.arrays import BoolArray, FloatArray, IntArray

from .names import (
    ATH_FEATURE_NAMES,
    DEFAULT_WINDOW_SIZES,
    ENGINEERING_INPUT_COLUMNS,
    HISTORY_KEY_COLUMNS,
    get_engineered_feature_names,
    tail_depth,
    validate_window_sizes,
)
from .reference import NS_PER_MINUTE
from .state import PrefixBatch
from .tail import TailBatch

_G = TypeVar("_G", bound=np.generic)
_NO_TIME = np.iinfo(np.int64).min

# Series that go through windows, in the order of the stacked array's second axis.
_SERIES = (
    "dev",
    "pressure",
    "whale_buy",
    "whale_sell",
    "volatility",
    "signers",
    "net_volume",
    "volume",
    "breakout_volume",
    "distance",
    "distance_prev",
    "minutes",
    "breakout",
)
_S = {name: i for i, name in enumerate(_SERIES)}

__all__ = ["batch_feature_names", "compute_batch_features", "snapshot_base_values"]


def batch_feature_names(
    window_sizes: Sequence[int] = DEFAULT_WINDOW_SIZES, *, include_ath: bool = True
) -> list[str]:
    """Column names of ``compute_batch_features``: the engineered names in contract order,
    then (``include_ath``) the seven ATH feature names."""
    names = get_engineered_feature_names(window_sizes)
    return names + list(ATH_FEATURE_NAMES) if include_ath else names


def _left_pad(values: NDArray[_G], width: int, fill: float | int) -> NDArray[_G]:
    missing = width - values.shape[1]
    if missing <= 0:
        return values
    pad = np.full((values.shape[0], missing), fill, dtype=values.dtype)
    return np.concatenate((pad, values), axis=1)


def _check_inputs(tail: TailBatch, prefix: PrefixBatch, needed: int) -> None:
    n, k = tail.timestamps_ns.shape
    missing = [c for c in ENGINEERING_INPUT_COLUMNS if c not in tail.columns]
    if missing:
        raise ValueError(f"tail lacks columns the features need: {missing}")
    for name in ENGINEERING_INPUT_COLUMNS:
        if tail.columns[name].shape != (n, k):
            raise ValueError(f"column {name!r} has shape {tail.columns[name].shape}, want {(n, k)}")
    if tail.lengths.shape != (n,) or len(prefix) != n:
        raise ValueError("lengths and prefix must have one entry per coin")
    bad = np.flatnonzero((tail.lengths < 1) | (tail.lengths > k))
    if len(bad):
        raise ValueError(f"coins {bad.tolist()} have no row (or more rows than the depth)")
    short = np.flatnonzero((prefix.n_rows > 0) & (tail.lengths < needed))
    if len(short):
        raise ValueError(
            f"coins {short.tolist()} have earlier rows but fewer than {needed} rows in the tail"
        )


def compute_batch_features(
    tail: TailBatch,
    prefix: PrefixBatch | None = None,
    window_sizes: Sequence[int] = DEFAULT_WINDOW_SIZES,
    *,
    include_ath: bool = True,
) -> tuple[FloatArray, list[str]]:
    """Features of each coin's newest row: a (coins × features) float64 array and its names.

    Columns: ``get_engineered_feature_names(window_sizes)`` in contract order, then the seven
    ATH features when ``include_ath``. Every value is finite (NaN and ±inf become 0).
    ``prefix`` None means every tail holds its coin's whole history.
    Raises ``ValueError`` for malformed input (shapes, a NULL key column in the tail, a tail
    shorter than ``max(window) + 1`` for a coin with earlier rows).
    """
    ws = validate_window_sizes(window_sizes)
    needed = tail_depth(ws)
    n = tail.n_coins
    if prefix is None:
        prefix = PrefixBatch.empty(n)
    _check_inputs(tail, prefix, needed)

    with np.errstate(all="ignore"):
        features = _compute(tail, prefix, ws, needed)
    names = batch_feature_names(ws, include_ath=include_ath)
    matrix = np.empty((n, len(names)))
    for i, name in enumerate(names):
        matrix[:, i] = features[name]
    return np.where(np.isfinite(matrix), matrix, 0.0), names


@dataclass(frozen=True, slots=True)
class _Aligned:
    """The tail left-padded to at least ``needed`` columns; padding and NULLs are NaN."""

    exists: BoolArray  # (n, k) True where a history row is
    lengths: IntArray
    cols: dict[str, FloatArray]  # engineering inputs, (n, k)
    ts: IntArray  # (n, k), padding holds the coin's first timestamp
    first_ts: IntArray  # (n,) the coin's first history row (prefix or tail)
    last: int  # column of the snapshot row


def _align(tail: TailBatch, prefix: PrefixBatch, needed: int) -> _Aligned:
    n = tail.n_coins
    k = max(tail.depth, needed)
    lengths = tail.lengths.astype(np.int64)
    exists: BoolArray = np.arange(k)[None, :] >= (k - lengths)[:, None]
    cols = {
        c: np.where(exists, _left_pad(tail.columns[c], k, np.nan), np.nan)
        for c in ENGINEERING_INPUT_COLUMNS
    }
    for key in HISTORY_KEY_COLUMNS:
        bad = np.flatnonzero(np.isnan(cols[key]).sum(axis=1) > (k - lengths))
        if len(bad):
            raise ValueError(f"coins {bad.tolist()}: tail rows with NULL {key} (drop them)")
    raw_ts = _left_pad(tail.timestamps_ns, k, 0)
    first_tail_ts = raw_ts[np.arange(n), k - lengths]
    first_ts = np.where(prefix.n_rows > 0, prefix.first_ts_ns, first_tail_ts)
    ts = np.where(exists, raw_ts, first_ts[:, None])
    if np.any(np.diff(ts, axis=1) < 0):
        raise ValueError("tail timestamps must be in time order")
    overlap = np.flatnonzero((prefix.n_rows > 0) & (prefix.last_ts_ns > first_tail_ts))
    if len(overlap):
        raise ValueError(f"coins {overlap.tolist()}: the prefix state covers rows of the tail")
    return _Aligned(exists, lengths, cols, ts, first_ts, k - 1)


@dataclass(frozen=True, slots=True)
class _FullHistory:
    """Per tail row, as of the snapshot: features that depend on the whole history."""

    ath: FloatArray  # running max of price_high
    breakout: BoolArray
    minutes: FloatArray  # minutes since ATH (quirk applied), NaN at padding
    quirk: BoolArray  # rows before the coin's first breakout, in a history that has one
    distance: FloatArray  # ath_distance_pct, NaN at padding
    dev_cumsum: FloatArray  # (n,) running dev_sold sum at the snapshot


def _full_history(a: _Aligned, prefix: PrefixBatch) -> _FullHistory:
    high, close = a.cols["price_high"], a.cols["price_close"]
    running_max = np.fmax.accumulate(np.concatenate((prefix.ath[:, None], high), axis=1), axis=1)
    ath = running_max[:, 1:]
    breakout = high > running_max[:, :-1]  # NaN (no earlier row, padding) compares False
    start = np.where(prefix.has_breakout, prefix.last_breakout_ts_ns, _NO_TIME)
    candidates = np.where(breakout, a.ts, _NO_TIME)
    last_breakout = np.maximum.accumulate(
        np.concatenate((start[:, None], candidates), axis=1), axis=1
    )[:, 1:]
    seen = last_breakout != _NO_TIME
    any_breakout = prefix.has_breakout | breakout.any(axis=1)
    origin = np.where(
        any_breakout[:, None], np.where(seen, last_breakout, a.ts), a.first_ts[:, None]
    )
    quirk = any_breakout[:, None] & ~seen
    minutes = np.where(quirk, 0.0, (a.ts - origin).astype(np.float64) / NS_PER_MINUTE)
    distance = np.where(ath == 0, 0.0, (ath - close) / ath * 100)
    dev = _zero_filled(a, "dev_sold_amount")
    # np.cumsum adds strictly in sequence: prefix sum, then each tail row (padding adds 0)
    dev_cumsum = np.cumsum(
        np.concatenate((prefix.dev_sold_cumsum[:, None], np.where(a.exists, dev, 0.0)), axis=1),
        axis=1,
    )[:, -1]
    return _FullHistory(
        ath=ath,
        breakout=breakout,
        minutes=np.where(a.exists, minutes, np.nan),
        quirk=quirk,
        distance=np.where(a.exists, distance, np.nan),
        dev_cumsum=dev_cumsum,
    )


def _zero_filled(a: _Aligned, name: str) -> FloatArray:
    v = a.cols[name]
    return np.where(a.exists, np.where(np.isnan(v), 0.0, v), np.nan)


@dataclass(frozen=True, slots=True)
class _Windows:
    """Window aggregates at the snapshot, per window size: arrays of shape (series, n)."""

    sums: dict[int, FloatArray]
    means: dict[int, FloatArray]
    counts: dict[int, FloatArray]
    constants: dict[int, BoolArray]
    volume_std: dict[int, FloatArray]  # (n,) sample std of volume_sol


def _windows(a: _Aligned, h: _FullHistory, ws: tuple[int, ...], width: int) -> _Windows:
    """Sums/means over the last ``width`` columns of all series at once (newest row first)."""
    n = len(a.lengths)
    lo = a.last + 1 - width
    breakout = np.where(a.exists, h.breakout.astype(np.float64), np.nan)
    volume = a.cols["volume_sol"]
    series = {
        "dev": _zero_filled(a, "dev_sold_amount"),
        "pressure": _zero_filled(a, "buy_pressure_ratio"),
        "whale_buy": _zero_filled(a, "whale_buy_volume_sol"),
        "whale_sell": _zero_filled(a, "whale_sell_volume_sol"),
        "volatility": a.cols["volatility_pct"],
        "signers": a.cols["unique_signer_ratio"],
        "net_volume": a.cols["net_volume_sol"],
        "volume": volume,
        "breakout_volume": breakout * volume,
        "distance": h.distance,
        # the window as it was at the previous row: the series moved one row later
        "distance_prev": np.concatenate((np.full((n, 1), np.nan), h.distance[:, :-1]), axis=1),
        "minutes": h.minutes,
        "breakout": breakout,
    }
    stacked = np.stack([series[name][:, lo:] for name in _SERIES]).transpose(2, 0, 1)
    stacked = np.where(np.isfinite(stacked), stacked, np.nan)  # (width, S, n); skip NaN, ±inf
    usable = ~np.isnan(stacked)
    addend = np.where(usable, stacked, 0.0)

    shape = (len(_SERIES), n)
    total, count = np.zeros(shape), np.zeros(shape)
    low, high = np.full(shape, np.nan), np.full(shape, np.nan)
    out = _Windows({}, {}, {}, {}, {})
    wanted = set(ws)
    for offset in range(max(ws, default=0)):
        j = width - 1 - offset
        total = total + addend[j]
        count = count + usable[j]
        low = np.fmin(low, stacked[j])
        high = np.fmax(high, stacked[j])
        w = offset + 1
        if w in wanted:
            constant = low == high  # all usable values equal (False for an empty window)
            out.sums[w] = np.where(count > 0, total, np.nan)
            out.means[w] = np.where(constant, low, np.where(count > 0, total / count, np.nan))
            out.counts[w] = count
            out.constants[w] = constant

    # sample std of volume, every window at once (second pass, same order as the reference)
    v = _S["volume"]
    vol_means = np.stack([out.means[w][v] for w in ws]) if ws else np.zeros((0, n))
    sizes = np.asarray(ws, dtype=np.int64)[:, None]
    squares = np.zeros((len(ws), n))
    for offset in range(max(ws, default=0)):
        d = stacked[width - 1 - offset, v][None, :] - vol_means
        inside = usable[width - 1 - offset, v][None, :] & (offset < sizes)
        squares = squares + np.where(inside, d * d, 0.0)
    for i, w in enumerate(ws):
        c = out.counts[w][v]
        spread = np.sqrt(squares[i] / (c - 1))
        out.volume_std[w] = np.where(c < 2, np.nan, np.where(out.constants[w][v], 0.0, spread))
    return out


def _compute(
    tail: TailBatch, prefix: PrefixBatch, ws: tuple[int, ...], needed: int
) -> dict[str, FloatArray]:
    a = _align(tail, prefix, needed)
    h = _full_history(a, prefix)
    win = _windows(a, h, ws, needed)
    t = a.last
    cols = a.cols

    def at(values: FloatArray, row: int = t) -> FloatArray:
        return values[:, row]

    def flag(condition: BoolArray) -> FloatArray:
        return condition.astype(np.float64)

    dev = _zero_filled(a, "dev_sold_amount")
    pressure = _zero_filled(a, "buy_pressure_ratio")
    close, volume, mcap = cols["price_close"], cols["volume_sol"], cols["market_cap_close"]
    net = cols["net_volume_sol"]
    # the sign state vs the previous row's; a coin's first row has none (→ 0)
    net_prev = at(net, t - 1) if t >= 1 else np.full(len(a.lengths), np.nan)
    flip = flag((a.lengths >= 2) & ((at(net) > 0) != (net_prev > 0)))

    out: dict[str, FloatArray] = {
        "dev_sold_flag": flag(at(dev) > 0),
        "dev_sold_cumsum": h.dev_cumsum,
        "whale_net_volume": at(_zero_filled(a, "whale_buy_volume_sol"))
        - at(_zero_filled(a, "whale_sell_volume_sol")),
    }
    for w in ws:
        s, m = win.sums[w], win.means[w]
        change = (at(close) / at(close, t - w) - 1) * 100
        out |= {
            f"dev_sold_spike_{w}": flag(s[_S["dev"]] > 0),
            f"buy_pressure_ma_{w}": m[_S["pressure"]],
            f"buy_pressure_trend_{w}": at(pressure) - m[_S["pressure"]],
            f"whale_activity_{w}": s[_S["whale_buy"]] + s[_S["whale_sell"]],
            f"volatility_ma_{w}": m[_S["volatility"]],
            f"volatility_spike_{w}": flag(at(cols["volatility_pct"]) > 1.5 * m[_S["volatility"]]),
            f"wash_trading_flag_{w}": flag(m[_S["signers"]] < 0.15),
            f"net_volume_ma_{w}": m[_S["net_volume"]],
            f"volume_flip_{w}": flip,
            f"price_change_{w}": change,
            f"price_roc_{w}": change,
            f"volume_ratio_{w}": at(volume) / m[_S["volume"]],
            f"volume_spike_{w}": (at(volume) - m[_S["volume"]]) / win.volume_std[w],
            # percent, as training computes it: (mc − mc.shift(w)) / mc.shift(w) × 100
            f"mcap_velocity_{w}": (at(mcap) - at(mcap, t - w)) / at(mcap, t - w) * 100,
            f"ath_distance_trend_{w}": m[_S["distance"]],
            f"ath_approach_{w}": flag(m[_S["distance"]] < m[_S["distance_prev"]]),
            f"ath_breakout_count_{w}": s[_S["breakout"]],
            f"ath_breakout_volume_ma_{w}": m[_S["breakout_volume"]],
            f"ath_age_trend_{w}": m[_S["minutes"]],
        }

    minutes, quirk = at(h.minutes), h.quirk[:, t]
    out |= {
        "rolling_ath": at(h.ath),
        "ath_distance_pct": at(h.distance),
        "ath_breakout": flag(h.breakout[:, t]),
        "minutes_since_ath": minutes,
        "ath_age_hours": minutes / 60,
        "ath_is_recent": flag((minutes < 60) & ~quirk),
        "ath_is_old": flag((minutes > 1440) & ~quirk),
    }
    return out


def snapshot_base_values(tail: TailBatch, columns: Sequence[str]) -> FloatArray:
    """Raw base-column values of each coin's newest row, (coins × columns), NaN/±inf → 0."""
    missing = [c for c in columns if c not in tail.columns]
    if missing:
        raise ValueError(f"tail lacks base columns {missing}")
    out = np.empty((tail.n_coins, len(columns)))
    for i, name in enumerate(columns):
        out[:, i] = tail.columns[name][:, -1]
    return np.where(np.isfinite(out), out, 0.0)
