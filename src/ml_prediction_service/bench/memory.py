"""Memory figures of the benchmark (docs/pipeline.md, "Memory with many coins"): the
process's resident set now, and the bytes the history stores hold for the coins they track."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ml_prediction_service.pipeline.history import HistoryStore


def rss_mb() -> float | None:
    """The resident set of this process now (``VmRSS``), in MB; None where /proc has none."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def store_figures(stores: list[HistoryStore]) -> dict[str, float | int | None]:
    """Coins tracked, slots allocated, and array bytes per slot (the per-coin cost without
    the Python objects: the coin's key in the LRU, its str)."""
    coins = sum(len(s) for s in stores)
    slots = sum(len(s.ts) for s in stores)
    nbytes = sum(s.nbytes for s in stores)
    return {
        "coins_cached": coins,
        "cache_slots": slots,
        "cache_capacity": sum(s.capacity for s in stores),
        "cache_depth": max((s.depth for s in stores), default=None),
        "cache_array_mb": round(nbytes / 2**20, 1),
        "cache_array_bytes_per_slot": round(nbytes / slots) if slots else None,
    }


def fill_store(coins: int, depth: int, rows_per_coin: int, batch: int = 500) -> HistoryStore:
    """A history store of ``coins`` capacity filled the way the pipeline fills it: batches of
    ``batch`` coins, each read in full (``rows_per_coin`` rows) and then kept."""
    from datetime import UTC, datetime, timedelta

    from ml_prediction_service.features import BASE_COLUMNS
    from ml_prediction_service.pipeline.history import Snapshot, assemble

    store = HistoryStore(capacity=coins, depth=depth)
    rng = np.random.default_rng(3)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    step_ns = 5_000_000_000
    for start in range(0, coins, batch):
        mints = [f"MEM{i:08d}{'x' * 33}" for i in range(start, min(start + batch, coins))]
        last = t0 + timedelta(seconds=5 * (rows_per_coin - 1))
        snaps = [Snapshot(m, last, 1) for m in mints]
        n = len(mints) * rows_per_coin
        index = np.repeat(np.arange(len(mints)), rows_per_coin)
        ts = np.tile(np.arange(rows_per_coin, dtype=np.int64) * step_ns, len(mints))
        ts += int(t0.timestamp()) * 1_000_000_000
        values = rng.uniform(0.5, 2.0, size=(n, len(BASE_COLUMNS)))
        assemble(store, snaps, [None] * len(mints), index, ts, values)
    return store


def main(argv: list[str] | None = None) -> int:
    """``python -m ml_prediction_service.bench.memory --coins 100000``: RSS of this process
    before and after filling a history store with that many coins (JSON)."""
    import argparse
    import gc
    import json
    import resource

    parser = argparse.ArgumentParser(prog="python -m ml_prediction_service.bench.memory")
    parser.add_argument("--coins", type=int, default=100_000)
    parser.add_argument("--depth", type=int, default=20, help="FEATURE_HISTORY_SIZE (20)")
    parser.add_argument("--rows", type=int, default=30, help="history rows per coin (30)")
    args = parser.parse_args(argv)
    gc.collect()
    before = rss_mb()
    store = fill_store(args.coins, args.depth, args.rows)
    gc.collect()
    after = rss_mb()
    peak = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    grown = (after or 0) - (before or 0)
    print(
        json.dumps(
            {
                "coins": len(store),
                "depth": store.depth,
                "rss_before_mb": before,
                "rss_after_mb": after,
                "peak_rss_mb": peak,
                "rss_per_coin_bytes": round(grown * 2**20 / max(len(store), 1)),
                **store_figures([store]),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
