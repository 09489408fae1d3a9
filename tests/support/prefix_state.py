"""The single-coin prefix-state API: a reference for the fast path's prefix states.

Each coin's ``PrefixState`` is seeded once from its history (``seed_prefix_state``) and moved
forward with new rows (``advance_prefix_state``); both are pure and give the same state for
the same rows. ``split_for_snapshot`` / ``state_after_snapshot`` are the per-coin service loop
(docs/features.md, §6) the property tests drive, and ``prefix_batch`` stacks states into the
``PrefixBatch`` that ``compute_batch_features`` takes. The service itself keeps its states in
arrays (``advance_prefix_batch``, ``pipeline/history.py``); this is the tests' oracle.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ml_prediction_service.features import HISTORY_KEY_COLUMNS, PrefixBatch

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

STATE_COLUMNS: tuple[str, ...] = ("price_close", "price_high", "volume_sol", "dev_sold_amount")
"""Columns ``advance_prefix_state`` reads (the key columns decide which rows count)."""


class StaleStateError(ValueError):
    """The state already covers rows the snapshot's tail needs: re-seed it from the history."""

    code = "stale_prefix_state"


@dataclass(frozen=True, slots=True)
class PrefixState:
    """Aggregates over a coin's history rows up to and including ``last_ts_ns``.

    ``ath`` is NaN while no row has been seen; ``last_breakout_ts_ns`` is None while no row
    has been an ATH breakout (``price_high`` above the previous row's running max).
    """

    n_rows: int = 0
    first_ts_ns: int = 0
    last_ts_ns: int = 0
    ath: float = math.nan
    dev_sold_cumsum: float = 0.0
    last_breakout_ts_ns: int | None = None

    @property
    def has_breakout(self) -> bool:
        return self.last_breakout_ts_ns is not None


def history_row_mask(columns: Mapping[str, ArrayLike]) -> BoolArray:
    """True for rows that are part of a history: price_close, price_high, volume_sol not NULL."""
    keys = [np.asarray(columns[c], dtype=np.float64) for c in HISTORY_KEY_COLUMNS]
    mask = np.ones(keys[0].shape, dtype=bool)
    for key in keys:
        mask &= ~np.isnan(key)
    return mask


def _state_rows(
    timestamps_ns: ArrayLike, columns: Mapping[str, ArrayLike]
) -> tuple[IntArray, dict[str, FloatArray]]:
    missing = [c for c in STATE_COLUMNS if c not in columns]
    if missing:
        raise ValueError(f"prefix state needs columns {missing}")
    ts = np.asarray(timestamps_ns, dtype=np.int64).reshape(-1)
    values = {c: np.asarray(columns[c], dtype=np.float64).reshape(-1) for c in STATE_COLUMNS}
    if any(len(v) != len(ts) for v in values.values()):
        raise ValueError("timestamps and columns must have the same length")
    keep = history_row_mask(values)
    return ts[keep], {c: v[keep] for c, v in values.items()}


def advance_prefix_state(
    state: PrefixState, timestamps_ns: ArrayLike, columns: Mapping[str, ArrayLike]
) -> PrefixState:
    """Return the state after folding in the given rows (time order, all after the state).

    Rows outside the history (NULL key column) are skipped. ``columns`` needs
    ``STATE_COLUMNS``; NULL ``dev_sold_amount`` counts as 0.
    """
    ts, values = _state_rows(timestamps_ns, columns)
    if len(ts) == 0:
        return state
    if np.any(np.diff(ts) < 0) or (state.n_rows > 0 and int(ts[0]) < state.last_ts_ns):
        raise ValueError("rows must be in time order and not older than the state")
    high = values["price_high"]
    running_max = np.fmax.accumulate(np.concatenate(([state.ath], high)))
    breakout = high > running_max[:-1]  # compares with NaN (no earlier row) are False
    last_breakout = state.last_breakout_ts_ns
    if bool(breakout.any()):
        last_breakout = int(ts[np.flatnonzero(breakout)[-1]])
    dev = values["dev_sold_amount"]
    with np.errstate(all="ignore"):
        # np.cumsum adds strictly in sequence, like the reference's running sum.
        cumsum = np.cumsum(
            np.concatenate(([state.dev_sold_cumsum], np.where(np.isnan(dev), 0.0, dev)))
        )
    return PrefixState(
        n_rows=state.n_rows + len(ts),
        first_ts_ns=state.first_ts_ns if state.n_rows > 0 else int(ts[0]),
        last_ts_ns=int(ts[-1]),
        ath=float(running_max[-1]),
        dev_sold_cumsum=float(cumsum[-1]),
        last_breakout_ts_ns=last_breakout,
    )


def seed_prefix_state(timestamps_ns: ArrayLike, columns: Mapping[str, ArrayLike]) -> PrefixState:
    """The state of a coin's whole history (its rows in time order)."""
    return advance_prefix_state(PrefixState(), timestamps_ns, columns)


def split_for_snapshot(
    state: PrefixState,
    timestamps_ns: ArrayLike,
    columns: Mapping[str, ArrayLike],
    depth: int,
) -> tuple[PrefixState, IntArray, dict[str, FloatArray]]:
    """Split the rows after ``state`` (time order, up to the snapshot) into prefix and tail.

    Rows outside the history are dropped, all but the last ``depth`` rows are folded into the
    state, and the last ``depth`` rows come back as the tail (every given column, as float).
    Raises :class:`StaleStateError` when the state is not empty and fewer than ``depth``
    history rows follow it: the state then covers rows the tail needs (re-seed it).
    """
    ts = np.asarray(timestamps_ns, dtype=np.int64).reshape(-1)
    values = {c: np.asarray(v, dtype=np.float64).reshape(-1) for c, v in columns.items()}
    keep = history_row_mask(values)
    ts = ts[keep]
    values = {c: v[keep] for c, v in values.items()}
    if state.n_rows > 0 and len(ts) > 0 and int(ts[0]) < state.last_ts_ns:
        raise StaleStateError("rows older than the state were given: re-seed")
    if state.n_rows > 0 and len(ts) < depth:
        raise StaleStateError(
            f"{len(ts)} history rows follow the state, the tail needs {depth}: re-seed"
        )
    cut = max(len(ts) - depth, 0)
    new_state = advance_prefix_state(state, ts[:cut], {c: values[c][:cut] for c in STATE_COLUMNS})
    return new_state, ts[cut:], {c: v[cut:] for c, v in values.items()}


def state_after_snapshot(
    state: PrefixState,
    tail_timestamps_ns: ArrayLike,
    tail_columns: Mapping[str, ArrayLike],
    depth: int,
) -> PrefixState:
    """The state to keep after serving a snapshot: it lags the snapshot by ``depth - 1`` rows,
    so that the next snapshot's rows after the state are exactly one full tail."""
    ts = np.asarray(tail_timestamps_ns, dtype=np.int64).reshape(-1)
    cut = max(len(ts) - (depth - 1), 0)
    head = {
        c: np.asarray(tail_columns[c], dtype=np.float64).reshape(-1)[:cut] for c in STATE_COLUMNS
    }
    return advance_prefix_state(state, ts[:cut], head)


def prefix_batch(states: Sequence[PrefixState]) -> PrefixBatch:
    """The states of several coins stacked into a :class:`PrefixBatch` (one entry per coin)."""
    n = len(states)
    return PrefixBatch(
        n_rows=np.fromiter((s.n_rows for s in states), dtype=np.int64, count=n),
        first_ts_ns=np.fromiter((s.first_ts_ns for s in states), dtype=np.int64, count=n),
        last_ts_ns=np.fromiter((s.last_ts_ns for s in states), dtype=np.int64, count=n),
        ath=np.fromiter((s.ath for s in states), dtype=np.float64, count=n),
        dev_sold_cumsum=np.fromiter((s.dev_sold_cumsum for s in states), dtype=np.float64, count=n),
        has_breakout=np.fromiter((s.has_breakout for s in states), dtype=bool, count=n),
        last_breakout_ts_ns=np.fromiter(
            (0 if s.last_breakout_ts_ns is None else s.last_breakout_ts_ns for s in states),
            dtype=np.int64,
            count=n,
        ),
    )
