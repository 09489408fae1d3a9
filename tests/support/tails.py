"""Packing flat rows of many coins (any order) into right-aligned tails: how the fast-path
tests build a :class:`~ml_prediction_service.features.TailBatch` from a coin's history rows.
The service's tails come from its history store (``TailBatch.from_stacked``)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ml_prediction_service.features import BASE_COLUMNS, HISTORY_KEY_COLUMNS, TailBatch

FloatArray = NDArray[np.float64]


def pack_tails(
    coin_index: ArrayLike,
    timestamps_ns: ArrayLike,
    columns: Mapping[str, ArrayLike],
    *,
    n_coins: int,
    depth: int,
) -> TailBatch:
    """Pack flat rows of many coins (any order) into a :class:`TailBatch`.

    ``coin_index`` (m,) says which coin (0 … n_coins-1) each row belongs to; rows are ordered
    by (coin, timestamp), stably, and the last ``depth`` history rows of each coin are kept.
    Column names must be base columns (``BASE_COLUMNS``) and include the history key columns;
    values may be floats, ints, bools, ``Decimal`` or None (→ NaN).
    """
    if depth < 1:
        raise ValueError("depth must be >= 1")
    unknown = [c for c in columns if c not in BASE_COLUMNS]
    if unknown:
        raise ValueError(f"not coin_metrics base columns: {unknown}")
    missing = [c for c in HISTORY_KEY_COLUMNS if c not in columns]
    if missing:
        raise ValueError(f"tail needs the history key columns {missing}")
    coin = np.asarray(coin_index, dtype=np.int64).reshape(-1)
    ts = np.asarray(timestamps_ns, dtype=np.int64).reshape(-1)
    values = {c: np.asarray(v, dtype=np.float64).reshape(-1) for c, v in columns.items()}
    if len(ts) != len(coin) or any(len(v) != len(coin) for v in values.values()):
        raise ValueError("coin_index, timestamps and columns must have the same length")
    if len(coin) and (coin.min() < 0 or coin.max() >= n_coins):
        raise ValueError("coin_index out of range")

    keep = np.ones(len(coin), dtype=bool)
    for key in HISTORY_KEY_COLUMNS:
        keep &= ~np.isnan(values[key])
    kept = np.flatnonzero(keep)
    order = kept[np.lexsort((ts[kept], coin[kept]))]
    coin_sorted = coin[order]
    counts = np.bincount(coin_sorted, minlength=n_coins).astype(np.int64)
    ends = np.cumsum(counts)
    from_end = ends[coin_sorted] - 1 - np.arange(len(order), dtype=np.int64)
    sel = from_end < depth
    rows = coin_sorted[sel]
    cols = depth - 1 - from_end[sel]
    src = order[sel]

    ts_out = np.zeros((n_coins, depth), dtype=np.int64)
    ts_out[rows, cols] = ts[src]
    packed: dict[str, FloatArray] = {}
    for name, v in values.items():
        out = np.full((n_coins, depth), np.nan)
        out[rows, cols] = v[src]
        packed[name] = out
    return TailBatch(timestamps_ns=ts_out, lengths=np.minimum(counts, depth), columns=packed)
