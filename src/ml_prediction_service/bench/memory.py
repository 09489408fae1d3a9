"""Memory figures of the benchmark (docs/pipeline.md, "Memory with many coins"): the
process's resident set now, and the bytes the history stores hold for the coins they track."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from ml_prediction_service.features.state import PrefixBatch
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


def store_bytes(store: HistoryStore) -> int:
    """The arrays of a history store (all its slots, used or not)."""
    state = sum(getattr(store.state, f.name).nbytes for f in fields(PrefixBatch))
    return int(store.ts.nbytes + store.values.nbytes + state)


def store_figures(stores: list[HistoryStore]) -> dict[str, float | int | None]:
    """Coins tracked, slots allocated, and array bytes per slot (the per-coin cost without
    the Python objects: the coin's key in the LRU, its str)."""
    coins = sum(len(s) for s in stores)
    slots = sum(len(s.ts) for s in stores)
    nbytes = sum(store_bytes(s) for s in stores)
    return {
        "coins_cached": coins,
        "cache_slots": slots,
        "cache_capacity": sum(s.capacity for s in stores),
        "cache_depth": max((s.depth for s in stores), default=None),
        "cache_array_mb": round(nbytes / 2**20, 1),
        "cache_array_bytes_per_slot": round(nbytes / slots) if slots else None,
    }
