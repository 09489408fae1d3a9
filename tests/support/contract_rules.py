"""The derived-column rules of contract §1, checked on a coin_metrics-like frame.

Shared by the simulator's unit tests (in-memory rows) and the collector's integration tests
(rows read back from PostgreSQL). NULLs are NaN; a rule is checked where its inputs exist.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

INTERVAL_BY_PHASE = {1: 5, 2: 30, 3: 60}
PHASE_BY_AGE = ((600, 1), (3600, 2), (86400, 3))


def _close(a: pd.Series, b: pd.Series, tol: float) -> pd.Series:
    both = a.notna() & b.notna()
    return ~both | ((a - b).abs() <= tol)


def rule_violations(df: pd.DataFrame) -> dict[str, int]:
    """Rule name -> number of violating rows (only rules with violations are returned)."""
    f = df.copy()
    num = [c for c in f.columns if c not in ("mint", "timestamp", "is_koth")]
    f[num] = f[num].apply(pd.to_numeric).astype(float)
    trades = f["num_buys"] + f["num_sells"]
    eps = 1.5e-6
    checks: dict[str, pd.Series] = {
        "market_cap_close = price_close x 1e9": _close(
            f["market_cap_close"], f["price_close"] * 1e9, 0.0051
        ),
        "bonding_curve_pct = virtual_sol_reserves / 85 x 100": _close(
            f["bonding_curve_pct"], f["virtual_sol_reserves"] / 85 * 100, 1e-4
        ),
        "bonding curve within [0, 100]": ~(
            (f["bonding_curve_pct"] < 0) | (f["bonding_curve_pct"] > 100)
        ),
        "is_koth = market cap > 30,000": f["market_cap_close"].isna()
        | (f["is_koth"].astype(bool) == (f["market_cap_close"] > 30_000)),
        "volume = buy + sell": _close(
            f["volume_sol"], f["buy_volume_sol"] + f["sell_volume_sol"], eps
        ),
        "net = buy - sell": _close(
            f["net_volume_sol"], f["buy_volume_sol"] - f["sell_volume_sol"], eps
        ),
        "volatility = (high - low) / open x 100": _close(
            f["volatility_pct"], (f["price_high"] - f["price_low"]) / f["price_open"] * 100, 1.1e-4
        ),
        "avg trade size = volume / trades": _close(
            f["avg_trade_size_sol"], f["volume_sol"] / trades.where(trades > 0), eps
        ),
        "avg trade size NULL without trades": (trades > 0) | f["avg_trade_size_sol"].isna(),
        "buy pressure = buy / (buy + sell)": _close(
            f["buy_pressure_ratio"],
            f["buy_volume_sol"] / (f["buy_volume_sol"] + f["sell_volume_sol"]),
            eps,
        ),
        "unique signer ratio = wallets / trades": _close(
            f["unique_signer_ratio"], f["unique_wallets"] / trades.where(trades > 0), eps
        ),
        "ratios NULL without trades": (trades > 0)
        | (f["unique_signer_ratio"].isna() & f["buy_pressure_ratio"].isna()),
        "1 <= unique wallets <= trades": np.where(
            trades > 0,
            (f["unique_wallets"] >= 1) & (f["unique_wallets"] <= trades),
            f["unique_wallets"] == 0,
        ),
        "micro trades <= trades": f["num_micro_trades"] <= trades,
        "non-micro trades are >= 0.01 SOL": ~(
            (trades - f["num_micro_trades"]) * 0.01 > f["volume_sol"] + eps
        ),
        "dev sold within [0, sell volume]": ~(
            (f["dev_sold_amount"] < 0) | (f["dev_sold_amount"] > f["sell_volume_sol"] + eps)
        ),
        "high >= max(open, close)": ~(
            f["price_high"] < np.maximum(f["price_open"], f["price_close"])
        ),
        "low <= min(open, close), low > 0": ~(
            (f["price_low"] > np.minimum(f["price_open"], f["price_close"])) | (f["price_low"] <= 0)
        ),
        "prices within [1e-10, 1e-3] SOL": ~(
            (f["price_close"] < 1e-10) | (f["price_close"] > 1e-3)
        ),
    }
    for side in ("buy", "sell"):
        count = f[f"num_whale_{side}s"]
        vol = f[f"whale_{side}_volume_sol"]
        total = f[f"{side}_volume_sol"]
        biggest = f[f"max_single_{side}_sol"]
        n = f[f"num_{side}s"]
        checks[f"whale {side}s: count <= trades, volume <= {side} volume"] = ~(
            (count > n) | (vol > total + eps)
        )
        checks[f"whale {side}s are >= 1 SOL"] = ~(vol < count * 1.0 - eps) & ~(
            (count == 0) & (vol > 0)
        )
        checks[f"max single {side} >= 1 SOL iff whales"] = biggest.isna() | (
            (biggest >= 1.0 - eps) == (count > 0)
        )
        checks[f"mean {side} <= max single {side} <= {side} volume"] = ~(
            (biggest > total + eps) | (biggest < total / n.where(n > 0) - eps)
        )
    return {
        name: int((~np.asarray(ok, dtype=bool)).sum())
        for name, ok in checks.items()
        if (~np.asarray(ok, dtype=bool)).any()
    }


def sequence_violations(df: pd.DataFrame) -> dict[str, int]:
    """Per-coin rules: sampling schedule by phase, open = previous close, end states."""
    bad: dict[str, int] = {}

    def count(name: str, n: int) -> None:
        if n:
            bad[name] = bad.get(name, 0) + n

    for _, coin in df.sort_values(["mint", "timestamp"]).groupby("mint", sort=False):
        ts = pd.DatetimeIndex(coin["timestamp"]).as_unit("s").asi8
        ages = ts - ts[0]
        phase = coin["phase_id_at_time"].to_numpy(int)
        expected = np.select([ages < a for a, _ in PHASE_BY_AGE], [p for _, p in PHASE_BY_AGE], 0)
        graduated = phase == 100
        count("Graduated only on the coin's last row", int(graduated[:-1].sum()))
        count("phase follows the age", int(((phase != expected) & ~graduated).sum()))
        steps = np.diff(ages)
        interval = np.array([INTERVAL_BY_PHASE.get(int(p), 0) for p in expected[:-1]])
        count("rows one phase interval apart", int((steps != interval).sum()))
        last_pct = float(coin["bonding_curve_pct"].iloc[-1])
        if graduated[-1] and not np.isnan(last_pct):
            count("graduates at 100 % bonding curve", int(last_pct != 100))
        opens = pd.to_numeric(coin["price_open"]).to_numpy(float)[1:]
        closes = pd.to_numeric(coin["price_close"]).to_numpy(float)[:-1]
        both = ~np.isnan(opens) & ~np.isnan(closes)
        count("open = previous close", int((opens[both] != closes[both]).sum()))
    return bad
