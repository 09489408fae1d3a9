"""Per-coin history kept in memory, and the batch inputs of the feature fast path.

For each coin the store holds a prefix state (exact full-history aggregates: running ATH,
dev-sold cumsum, last breakout) plus the last ``depth - 1`` history rows after it, in
preallocated arrays (one slot per coin). A new snapshot then needs only the rows since the
cached ones — one query for the whole batch — and the features equal training's over the
coin's *whole* history.

The common case (coin cached, up to ``FAST_PATH_MAX_ROWS`` new rows) is handled for the whole
batch at once with array operations; coins read in full (not cached yet, or a snapshot not
newer than the cache) or with many new rows (e.g. after downtime) go through a per-coin path.

Pure CPU work, no I/O: the worker fetches rows and runs this in a thread.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta

import numpy as np

from ml_prediction_service.arrays import BoolArray, FloatArray, IntArray
from ml_prediction_service.features import (
    BASE_COLUMNS,
    HISTORY_KEY_COLUMNS,
    PrefixBatch,
    TailBatch,
    advance_prefix_batch,
)

FAST_PATH_MAX_ROWS = 8
"""A cached coin with at most this many new rows in a batch takes the vectorised path."""

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
COLUMN_INDEX = {name: i for i, name in enumerate(BASE_COLUMNS)}
_KEY_IDX = [COLUMN_INDEX[c] for c in HISTORY_KEY_COLUMNS]
_HIGH = COLUMN_INDEX["price_high"]
_CLOSE = COLUMN_INDEX["price_close"]
_DEV = COLUMN_INDEX["dev_sold_amount"]
_N_COLS = len(BASE_COLUMNS)
_INITIAL_SLOTS = 1024


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The newest event of one coin in a batch."""

    mint: str
    timestamp: datetime
    phase_id: int | None
    received_at: datetime | None = None

    @property
    def ts_ns(self) -> int:
        """Epoch nanoseconds, exact (microsecond resolution like PostgreSQL)."""
        return ((self.timestamp - EPOCH) // _MICROSECOND) * 1000


def fold_rows(prefix: PrefixBatch, ts: IntArray, values: FloatArray) -> PrefixBatch:
    """``advance_prefix_batch`` on right-aligned rows of all base columns (g, F, columns)."""
    return advance_prefix_batch(prefix, ts, values[:, :, _HIGH], values[:, :, _DEV])


class HistoryStore:
    """LRU of coin histories (at most ``capacity`` coins) in arrays, one slot per coin.

    Keeps ``depth - 1`` rows after each coin's prefix state: with the next snapshot's row that
    is exactly one full tail of ``depth`` rows. Changing ``depth`` (a model with longer
    windows arrived) empties the store: coins are read in full again once.
    """

    def __init__(self, capacity: int, depth: int = 1) -> None:
        if capacity < 1 or depth < 1:
            raise ValueError("capacity and depth must be >= 1")
        self.capacity = capacity
        self.depth = depth
        self.slots: OrderedDict[str, int] = OrderedDict()
        self._allocate(min(capacity, _INITIAL_SLOTS))

    @property
    def width(self) -> int:
        return self.depth - 1

    def _allocate(self, size: int) -> None:
        self.ts = np.zeros((size, self.width), dtype=np.int64)
        self.values = np.full((size, self.width, _N_COLS), np.nan)
        self.state = PrefixBatch.empty(size)
        self._free = list(range(size - 1, -1, -1))
        self.slots.clear()

    def _grow(self) -> None:
        size = len(self.ts)
        new = min(self.capacity, size * 2)
        ts = np.zeros((new, self.width), dtype=np.int64)
        ts[:size] = self.ts
        values = np.full((new, self.width, _N_COLS), np.nan)
        values[:size] = self.values
        state = PrefixBatch.empty(new)
        state.put(np.arange(size), self.state)
        self.ts, self.values, self.state = ts, values, state
        self._free.extend(range(new - 1, size - 1, -1))

    def __len__(self) -> int:
        return len(self.slots)

    @property
    def nbytes(self) -> int:
        """The bytes of the store's arrays (every slot allocated, used or not)."""
        state = sum(getattr(self.state, f.name).nbytes for f in fields(PrefixBatch))
        return int(self.ts.nbytes + self.values.nbytes + state)

    def set_depth(self, depth: int) -> None:
        if depth != self.depth:
            self.depth = depth
            self._allocate(min(self.capacity, _INITIAL_SLOTS))

    def last_ts_ns(self, slot: int) -> int:
        if self.width and not np.isnan(self.values[slot, -1, _CLOSE]):
            return int(self.ts[slot, -1])
        return int(self.state.last_ts_ns[slot])

    def lower_bound(self, snap: Snapshot) -> int | None:
        """Exclusive lower bound (ns) of the rows to fetch; None = the whole history."""
        slot = self.slots.get(snap.mint)
        if slot is None:
            return None
        last = self.last_ts_ns(slot)
        return None if last >= snap.ts_ns else last  # old/duplicate snapshot: read in full

    def claim(self, mints: list[str]) -> list[tuple[int, str, int]]:
        """Slots for these coins (existing ones kept, new ones allocated, least recently used
        coins evicted when full); returns (position, mint, slot) of the coins that own a
        slot afterwards (with fewer slots than coins, the last ones win)."""
        assigned = []
        for pos, mint in enumerate(mints):
            slot = self.slots.get(mint)
            if slot is None:
                if not self._free and len(self.ts) < self.capacity:
                    self._grow()
                if self._free:
                    slot = self._free.pop()
                else:
                    _, slot = self.slots.popitem(last=False)
                self.slots[mint] = slot
            else:
                self.slots.move_to_end(mint)
            assigned.append((pos, mint, slot))
        return [(p, m, s) for p, m, s in assigned if self.slots.get(m) == s]


@dataclass
class BatchInputs:
    """Everything the feature fast path needs for a batch, plus bookkeeping per coin."""

    snapshots: list[Snapshot]
    tail: TailBatch
    prefix: PrefixBatch
    history_rows: IntArray  # total history rows per coin (prefix + tail)
    snapshot_missing: list[int]  # coins whose snapshot row is not a history row (NULL keys)


@dataclass
class _Out:
    tail_ts: IntArray
    tail_vals: FloatArray
    lengths: IntArray
    prefix: PrefixBatch
    history_rows: IntArray


def assemble(
    store: HistoryStore,
    snapshots: list[Snapshot],
    lower: list[int | None],
    coin_index: IntArray,
    timestamps_ns: IntArray,
    values: FloatArray,
    *,
    update_cache: bool = True,
) -> BatchInputs:
    """Combine cached rows with the fetched ones into right-aligned tails + prefix states.

    ``lower[i]`` is what :meth:`HistoryStore.lower_bound` said for snapshot ``i`` (None = the
    fetched rows are the whole history as of the snapshot); fetched rows are ordered by
    (coin, time). With ``update_cache`` the store moves forward to each snapshot whose row is a
    history row (only for coins read incrementally, or not cached yet).
    """
    n = len(snapshots)
    depth = store.depth
    keep = ~np.isnan(values[:, _KEY_IDX]).any(axis=1)
    coin_index, timestamps_ns, values = coin_index[keep], timestamps_ns[keep], values[keep]
    counts = np.bincount(coin_index, minlength=n).astype(np.int64)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)
    snap_ts = np.fromiter((s.ts_ns for s in snapshots), dtype=np.int64, count=n)
    has_snapshot_row = np.zeros(n, dtype=bool)
    if len(timestamps_ns):
        last_new = timestamps_ns[np.maximum(starts + counts - 1, 0)]
        has_snapshot_row = (counts > 0) & (last_new == snap_ts)

    slot = np.full(n, -1, dtype=np.int64)
    for i, snap in enumerate(snapshots):
        if lower[i] is not None:
            slot[i] = store.slots.get(snap.mint, -1)
    fast = (slot >= 0) & (counts <= FAST_PATH_MAX_ROWS)

    out = _Out(
        tail_ts=np.zeros((n, depth), dtype=np.int64),
        tail_vals=np.full((n, depth, _N_COLS), np.nan),
        lengths=np.zeros(n, dtype=np.int64),
        prefix=PrefixBatch.empty(n),
        history_rows=np.zeros(n, dtype=np.int64),
    )
    updates: list[tuple[IntArray, PrefixBatch, IntArray, FloatArray]] = []
    fast_idx = np.flatnonzero(fast)
    if len(fast_idx):
        updates.append(
            _fast(store, out, fast_idx, slot, counts, starts, coin_index, timestamps_ns, values)
        )
    for i in np.flatnonzero(~fast).tolist():
        rows = slice(int(starts[i]), int(starts[i] + counts[i]))
        cached = int(slot[i]) if slot[i] >= 0 else None
        update = _slow(store, out, i, cached, timestamps_ns[rows], values[rows])
        if lower[i] is not None or snapshots[i].mint not in store.slots:
            updates.append(update)  # an old snapshot read in full leaves the cache alone
    if update_cache:
        _write_back(store, snapshots, updates, has_snapshot_row)
    tail = TailBatch.from_stacked(out.tail_ts, out.tail_vals, out.lengths)
    return BatchInputs(
        snapshots=snapshots,
        tail=tail,
        prefix=out.prefix,
        history_rows=out.history_rows,
        snapshot_missing=np.flatnonzero(~has_snapshot_row).tolist(),
    )


def _fast(
    store: HistoryStore,
    out: _Out,
    idx: IntArray,
    slot: IntArray,
    counts: IntArray,
    starts: IntArray,
    coin_index: IntArray,
    timestamps_ns: IntArray,
    values: FloatArray,
) -> tuple[IntArray, PrefixBatch, IntArray, FloatArray]:
    """Cached coins with a few new rows each, all at once: [cached rows | new rows] per coin,
    right-aligned, then the tail, the state before it, and the state to keep."""
    depth, width = store.depth, store.width
    g = len(idx)
    k = counts[idx]
    span = width + max(int(k.max()), 1)
    comb_ts = np.zeros((g, span), dtype=np.int64)
    comb_vals = np.full((g, span, _N_COLS), np.nan)
    slots = slot[idx]
    if width:
        cols = (span - k - width)[:, None] + np.arange(width)[None, :]
        rows = np.arange(g)[:, None]
        comb_ts[rows, cols] = store.ts[slots]
        comb_vals[rows, cols] = store.values[slots]
    position = np.full(len(counts), -1, dtype=np.int64)
    position[idx] = np.arange(g)
    mine = position[coin_index] >= 0
    coins = coin_index[mine]
    rank = np.flatnonzero(mine) - starts[coins]
    dest_row, dest_col = position[coins], span - counts[coins] + rank
    comb_ts[dest_row, dest_col] = timestamps_ns[mine]
    comb_vals[dest_row, dest_col] = values[mine]

    before = fold_rows(
        store.state.take(slots), comb_ts[:, : span - depth], comb_vals[:, : span - depth]
    )
    tail_vals = comb_vals[:, span - depth :]
    lengths = (~np.isnan(tail_vals[:, :, _CLOSE])).sum(axis=1)
    out.tail_ts[idx] = comb_ts[:, span - depth :]
    out.tail_vals[idx] = tail_vals
    out.lengths[idx] = lengths
    out.prefix.put(idx, before)
    out.history_rows[idx] = before.n_rows + lengths
    after = fold_rows(
        before, comb_ts[:, span - depth : span - width], comb_vals[:, span - depth : span - width]
    )
    return idx, after, comb_ts[:, span - width :], comb_vals[:, span - width :]


def _slow(
    store: HistoryStore,
    out: _Out,
    i: int,
    cached: int | None,
    new_ts: IntArray,
    new_vals: FloatArray,
) -> tuple[IntArray, PrefixBatch, IntArray, FloatArray]:
    """One coin: read in full (``cached`` None) or with many new rows after its cached ones."""
    depth, width = store.depth, store.width
    here = np.array([i])
    if cached is None:
        state, ts, vals = PrefixBatch.empty(1), new_ts, new_vals
    else:
        state = store.state.take(np.array([cached]))
        real = ~np.isnan(store.values[cached, :, _CLOSE])
        ts = np.concatenate((store.ts[cached][real], new_ts))
        vals = np.concatenate((store.values[cached][real], new_vals))
    cut = max(len(ts) - depth, 0)
    state = fold_rows(state, ts[None, :cut], vals[None, :cut])
    t_ts, t_vals = ts[cut:], vals[cut:]
    length = len(t_ts)
    if length:
        out.tail_ts[i, depth - length :] = t_ts
        out.tail_vals[i, depth - length :, :] = t_vals
    out.lengths[i] = length
    out.prefix.put(here, state)
    out.history_rows[i] = int(state.n_rows[0]) + length
    fold = max(length - width, 0)
    after = fold_rows(state, t_ts[None, :fold], t_vals[None, :fold])
    keep_ts = np.zeros((1, width), dtype=np.int64)
    keep_vals = np.full((1, width, _N_COLS), np.nan)
    kept = length - fold
    if kept:
        keep_ts[0, width - kept :] = t_ts[fold:]
        keep_vals[0, width - kept :] = t_vals[fold:]
    return here, after, keep_ts, keep_vals


def _write_back(
    store: HistoryStore,
    snapshots: list[Snapshot],
    updates: list[tuple[IntArray, PrefixBatch, IntArray, FloatArray]],
    has_snapshot_row: BoolArray,
) -> None:
    """Store each coin's new state and rows — only where the snapshot row is a history row
    (otherwise the same rows are simply fetched again next time)."""
    if not updates:
        return
    idx = np.concatenate([u[0] for u in updates])
    ok = has_snapshot_row[idx]
    if not ok.any():
        return
    state = PrefixBatch(
        **{
            f.name: np.concatenate([getattr(u[1], f.name) for u in updates])[ok]
            for f in fields(PrefixBatch)
        }
    )
    ts = np.concatenate([u[2] for u in updates])[ok]
    vals = np.concatenate([u[3] for u in updates])[ok]
    owners = store.claim([snapshots[i].mint for i in idx[ok].tolist()])
    if not owners:
        return
    local = np.fromiter((p for p, _, _ in owners), dtype=np.int64, count=len(owners))
    slots = np.fromiter((s for _, _, s in owners), dtype=np.int64, count=len(owners))
    store.ts[slots] = ts[local]
    store.values[slots] = vals[local]
    store.state.put(slots, state.take(local))
