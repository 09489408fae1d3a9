"""Micro-benchmark of the fast path (not a test): µs per coin for all engineered features.

Run ``python -m ml_prediction_service.features.bench``. Each batch size is timed on synthetic
tails of ``max(window) + 1`` rows with prefix states (the service's steady state); the process
is pinned to one CPU where the OS allows it. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable, Sequence
from functools import partial

import numpy as np

from .batch import compute_batch_features
from .names import BASE_COLUMNS, DEFAULT_WINDOW_SIZES, tail_depth
from .state import PrefixBatch
from .tail import TailBatch

DEFAULT_BATCH_SIZES: tuple[int, ...] = (1, 10, 100, 500, 1000)
TARGET_US_PER_COIN_AT_500 = 20.0


def _synthetic_tails(n_coins: int, depth: int, seed: int) -> TailBatch:
    """Full tails of ``depth`` rows per coin (the engineering inputs, with NULLs and a few
    zeros; the other base columns NULL), built the way the history store builds them."""
    rng = np.random.default_rng(seed)
    m = n_coins * depth
    step = rng.integers(5_000_000_000, 60_000_000_000, size=m)
    ts = 1_700_000_000_000_000_000 + np.cumsum(step)
    price = np.abs(1e-8 * np.exp(np.cumsum(rng.normal(0, 0.05, m))))
    columns: dict[str, np.ndarray] = {
        "price_close": price,
        "price_high": price * (1 + rng.random(m) * 0.02),
        "volume_sol": rng.exponential(2.0, m),
        "market_cap_close": price * 1e9,
        "dev_sold_amount": np.where(rng.random(m) < 0.05, rng.random(m), 0.0),
        "buy_pressure_ratio": rng.random(m),
        "whale_buy_volume_sol": rng.exponential(1.0, m),
        "whale_sell_volume_sol": rng.exponential(1.0, m),
        "volatility_pct": rng.exponential(3.0, m),
        "unique_signer_ratio": rng.random(m),
        "net_volume_sol": rng.normal(0, 1, m),
    }
    for name in ("volatility_pct", "unique_signer_ratio", "net_volume_sol", "dev_sold_amount"):
        columns[name][rng.random(m) < 0.02] = np.nan
    # each coin's rows are consecutive and in time order: right-aligned, they fill the tail
    values = np.full((n_coins, depth, len(BASE_COLUMNS)), np.nan)
    for j, name in enumerate(BASE_COLUMNS):
        if name in columns:
            values[:, :, j] = columns[name].reshape(n_coins, depth)
    return TailBatch.from_stacked(
        ts.astype(np.int64).reshape(n_coins, depth), values, np.full(n_coins, depth, dtype=np.int64)
    )


def _prefix(n_coins: int, seed: int) -> PrefixBatch:
    rng = np.random.default_rng(seed)
    return PrefixBatch(
        n_rows=rng.integers(1, 5000, n_coins),
        first_ts_ns=np.full(n_coins, 1_690_000_000_000_000_000, dtype=np.int64),
        last_ts_ns=np.full(n_coins, 1_699_000_000_000_000_000, dtype=np.int64),
        ath=np.full(n_coins, 2e-8),
        dev_sold_cumsum=rng.random(n_coins),
        has_breakout=rng.random(n_coins) < 0.8,
        last_breakout_ts_ns=np.full(n_coins, 1_695_000_000_000_000_000, dtype=np.int64),
    )


def _time_us(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``fn()`` in µs over ``repeats`` runs (after one warm-up)."""
    fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1e6)
    return statistics.median(samples)


def _pin_one_cpu() -> int | None:
    if not hasattr(os, "sched_setaffinity") or not hasattr(os, "sched_getaffinity"):
        return None
    cpus = sorted(os.sched_getaffinity(0))
    if not cpus:
        return None
    os.sched_setaffinity(0, {cpus[0]})
    return cpus[0]


def run(batch_sizes: Sequence[int], window_sizes: Sequence[int], repeats: int) -> dict[str, object]:
    depth = tail_depth(window_sizes)
    per_coin: dict[str, float] = {}
    n_features = 0
    for n in batch_sizes:
        tail = _synthetic_tails(n, depth, seed=n)
        prefix = _prefix(n, seed=n)
        matrix, _ = compute_batch_features(tail, prefix, window_sizes, include_ath=False)
        n_features = matrix.shape[1]
        runs = max(5, repeats // max(1, n // 100))
        total = _time_us(
            partial(compute_batch_features, tail, prefix, window_sizes, include_ath=False), runs
        )
        per_coin[str(n)] = round(total / n, 3)
        print(f"batch {n:>5}: {total / n:9.2f} µs/coin features ({total / 1000:8.3f} ms/batch)")
    at_500 = per_coin.get("500")
    return {
        "benchmark": "ml_prediction_service.features.compute_batch_features",
        "window_sizes": list(window_sizes),
        "n_features": n_features,
        "tail_depth": depth,
        "us_per_coin": per_coin,
        "target_us_per_coin_at_500": TARGET_US_PER_COIN_AT_500,
        "meets_target": None if at_500 is None else at_500 <= TARGET_US_PER_COIN_AT_500,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--batch-sizes", type=int, nargs="+", default=list(DEFAULT_BATCH_SIZES), metavar="N"
    )
    parser.add_argument(
        "--windows", type=int, nargs="+", default=list(DEFAULT_WINDOW_SIZES), metavar="W"
    )
    parser.add_argument("--repeats", type=int, default=200, help="timed runs at batch 100")
    parser.add_argument("--no-pin", action="store_true", help="do not pin to one CPU")
    args = parser.parse_args(argv)
    cpu = None if args.no_pin else _pin_one_cpu()
    result = run(args.batch_sizes, args.windows, args.repeats)
    result["pinned_cpu"] = cpu
    print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
