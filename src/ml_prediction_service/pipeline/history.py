"""Per-coin history kept in memory, and the batch inputs of the feature fast path.

For each coin the cache holds a :class:`PrefixState` (exact full-history aggregates: running
ATH, dev-sold cumsum, last breakout) plus the few most recent history rows after it. A new
snapshot then needs only the rows since the cached ones — one query for the whole batch —
and the features equal training's over the coin's *whole* history. Coins not in the cache
(or whose snapshot is not newer than the cache) are read in full once ("seeded").

Pure CPU work, no I/O: the worker fetches rows and runs this in a thread.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta

import numpy as np
from numpy.typing import NDArray

from ml_prediction_service.features import (
    BASE_COLUMNS,
    HISTORY_KEY_COLUMNS,
    PrefixBatch,
    PrefixState,
    TailBatch,
    advance_prefix_state,
)
from ml_prediction_service.features.state import STATE_COLUMNS

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
COLUMN_INDEX = {name: i for i, name in enumerate(BASE_COLUMNS)}
_KEY_IDX = [COLUMN_INDEX[c] for c in HISTORY_KEY_COLUMNS]


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
        return ((self.timestamp - _EPOCH) // _MICROSECOND) * 1000


@dataclass(slots=True)
class CoinHistory:
    state: PrefixState
    ts: IntArray  # history rows after the state, time order
    values: FloatArray  # (rows, len(BASE_COLUMNS))

    @property
    def last_ts_ns(self) -> int:
        return int(self.ts[-1]) if len(self.ts) else self.state.last_ts_ns


@dataclass
class HistoryCache:
    """LRU of coin histories, bounded by ``capacity`` coins."""

    capacity: int = 50_000
    coins: OrderedDict[str, CoinHistory] = field(default_factory=OrderedDict)

    def lower_bound(self, snap: Snapshot) -> int | None:
        """Exclusive lower bound (ns) of the rows to fetch; None = the whole history."""
        cached = self.coins.get(snap.mint)
        if cached is None or cached.last_ts_ns >= snap.ts_ns:
            return None  # unknown coin, or an old/duplicate snapshot: read as of it, in full
        return cached.last_ts_ns

    def put(self, mint: str, history: CoinHistory) -> None:
        self.coins[mint] = history
        self.coins.move_to_end(mint)
        while len(self.coins) > self.capacity:
            self.coins.popitem(last=False)

    def drop(self, mint: str) -> None:
        self.coins.pop(mint, None)


@dataclass
class BatchInputs:
    """Everything the feature fast path needs for a batch, plus bookkeeping per coin."""

    snapshots: list[Snapshot]
    tail: TailBatch
    prefix: PrefixBatch
    history_rows: IntArray  # total history rows per coin (prefix + tail)
    needs_reseed: list[int]  # coins whose cached state was too short for the tail
    snapshot_missing: list[int]  # coins whose snapshot row is not a history row (NULL keys)


def _state_dict(values: FloatArray) -> dict[str, FloatArray]:
    return {c: values[:, COLUMN_INDEX[c]] for c in STATE_COLUMNS}


def assemble(
    cache: HistoryCache,
    snapshots: list[Snapshot],
    lower: list[int | None],
    coin_index: IntArray,
    timestamps_ns: IntArray,
    values: FloatArray,
    depth: int,
    *,
    update_cache: bool = True,
) -> BatchInputs:
    """Combine cached rows with the fetched ones into right-aligned tails + prefix states.

    ``lower[i]`` is what :meth:`HistoryCache.lower_bound` said for snapshot ``i`` (None = the
    fetched rows are the whole history as of the snapshot). With ``update_cache`` the cache
    moves forward to each snapshot (only for coins read incrementally or seeded).
    """
    n = len(snapshots)
    n_cols = len(BASE_COLUMNS)
    tail_ts = np.zeros((n, depth), dtype=np.int64)
    tail_vals = np.full((n, depth, n_cols), np.nan)
    lengths = np.zeros(n, dtype=np.int64)
    states: list[PrefixState] = []
    history_rows = np.zeros(n, dtype=np.int64)
    reseed: list[int] = []
    snapshot_missing: list[int] = []
    starts = np.searchsorted(coin_index, np.arange(n), side="left")
    ends = np.searchsorted(coin_index, np.arange(n), side="right")
    keep_after = max(depth - 1, 0)
    for i, snap in enumerate(snapshots):
        new_ts = timestamps_ns[starts[i] : ends[i]]
        new_vals = values[starts[i] : ends[i]]
        if len(new_ts):
            keep = ~np.isnan(new_vals[:, _KEY_IDX]).any(axis=1)
            new_ts, new_vals = new_ts[keep], new_vals[keep]
        cached = cache.coins.get(snap.mint) if lower[i] is not None else None
        if cached is not None and (not len(new_ts) or int(new_ts[-1]) != snap.ts_ns):
            snapshot_missing.append(i)  # the snapshot row is not a history row: skip it
            states.append(cached.state)
            continue
        if cached is not None:
            state = cached.state
            ts = np.concatenate((cached.ts, new_ts)) if len(new_ts) else cached.ts
            vals = np.concatenate((cached.values, new_vals)) if len(new_ts) else cached.values
            if state.n_rows > 0 and len(ts) < depth:
                reseed.append(i)
                states.append(PrefixState())
                continue
        else:
            state, ts, vals = PrefixState(), new_ts, new_vals
        cut = max(len(ts) - depth, 0)
        if cut:
            state = advance_prefix_state(state, ts[:cut], _state_dict(vals[:cut]))
        t_ts, t_vals = ts[cut:], vals[cut:]
        length = len(t_ts)
        lengths[i] = length
        if length:
            tail_ts[i, depth - length :] = t_ts
            tail_vals[i, depth - length :, :] = t_vals
        states.append(state)
        history_rows[i] = state.n_rows + length
        if not length or int(t_ts[-1]) != snap.ts_ns:
            snapshot_missing.append(i)  # the snapshot row itself is not a history row
            continue
        # An old or duplicate snapshot read in full leaves the (newer) cached state alone.
        if update_cache and (lower[i] is not None or snap.mint not in cache.coins):
            fold = max(length - keep_after, 0)
            after = (
                advance_prefix_state(state, t_ts[:fold], _state_dict(t_vals[:fold]))
                if fold
                else state
            )
            cache.put(snap.mint, CoinHistory(after, t_ts[fold:].copy(), t_vals[fold:].copy()))
    tail = TailBatch(
        timestamps_ns=tail_ts,
        lengths=lengths,
        columns={name: tail_vals[:, :, j] for j, name in enumerate(BASE_COLUMNS)},
    )
    return BatchInputs(
        snapshots=snapshots,
        tail=tail,
        prefix=PrefixBatch.from_states(states),
        history_rows=history_rows,
        needs_reseed=reseed,
        snapshot_missing=snapshot_missing,
    )


def merge_inputs(first: BatchInputs, second: BatchInputs, positions: list[int]) -> BatchInputs:
    """``first`` with its coins at ``positions`` replaced by ``second``'s (same order)."""
    idx = np.asarray(positions, dtype=np.int64)
    tail_ts = first.tail.timestamps_ns.copy()
    tail_ts[idx] = second.tail.timestamps_ns
    lengths = first.tail.lengths.copy()
    lengths[idx] = second.tail.lengths
    columns = {}
    for name, values in first.tail.columns.items():
        merged = values.copy()
        merged[idx] = second.tail.columns[name]
        columns[name] = merged
    prefix_fields = {}
    for f in fields(first.prefix):
        merged_field = getattr(first.prefix, f.name).copy()
        merged_field[idx] = getattr(second.prefix, f.name)
        prefix_fields[f.name] = merged_field
    rows = first.history_rows.copy()
    rows[idx] = second.history_rows
    missing = [i for i in first.snapshot_missing if i not in set(positions)]
    missing += [positions[j] for j in second.snapshot_missing]
    return BatchInputs(
        snapshots=first.snapshots,
        tail=TailBatch(timestamps_ns=tail_ts, lengths=lengths, columns=columns),
        prefix=PrefixBatch(**prefix_fields),
        history_rows=rows,
        needs_reseed=[],
        snapshot_missing=sorted(missing),
    )
