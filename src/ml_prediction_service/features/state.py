"""Per-coin prefix state: exact full-history aggregates without re-reading the history.

The fast path computes the newest snapshot's features from a short tail of recent rows. Three
features need the coin's whole history — ``rolling_ath`` (running max), ``dev_sold_cumsum``
(running sum) and ``minutes_since_ath`` (last breakout, or the first row) — so the tail comes
with a :class:`PrefixState`: a handful of aggregates over every history row *before* the tail.

Seed a state once from a coin's history (``seed_prefix_state``), then move it forward with new
rows (``advance_prefix_state``); both are pure and give the same state for the same rows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .names import HISTORY_KEY_COLUMNS

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

STATE_COLUMNS: tuple[str, ...] = ("price_close", "price_high", "volume_sol", "dev_sold_amount")
"""Columns ``advance_prefix_state`` reads (the key columns decide which rows count)."""

__all__ = [
    "STATE_COLUMNS",
    "PrefixBatch",
    "PrefixState",
    "StaleStateError",
    "advance_prefix_batch",
    "advance_prefix_state",
    "history_row_mask",
    "seed_prefix_state",
    "split_for_snapshot",
    "state_after_snapshot",
]


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


@dataclass(frozen=True, slots=True)
class PrefixBatch:
    """Prefix states of a batch of coins as arrays (one entry per coin)."""

    n_rows: IntArray
    first_ts_ns: IntArray
    last_ts_ns: IntArray
    ath: FloatArray
    dev_sold_cumsum: FloatArray
    has_breakout: BoolArray
    last_breakout_ts_ns: IntArray

    @classmethod
    def empty(cls, n_coins: int) -> PrefixBatch:
        """States of coins whose whole history is in the tail."""
        return cls(
            n_rows=np.zeros(n_coins, dtype=np.int64),
            first_ts_ns=np.zeros(n_coins, dtype=np.int64),
            last_ts_ns=np.zeros(n_coins, dtype=np.int64),
            ath=np.full(n_coins, np.nan),
            dev_sold_cumsum=np.zeros(n_coins),
            has_breakout=np.zeros(n_coins, dtype=bool),
            last_breakout_ts_ns=np.zeros(n_coins, dtype=np.int64),
        )

    @classmethod
    def from_states(cls, states: Sequence[PrefixState]) -> PrefixBatch:
        n = len(states)
        return cls(
            n_rows=np.fromiter((s.n_rows for s in states), dtype=np.int64, count=n),
            first_ts_ns=np.fromiter((s.first_ts_ns for s in states), dtype=np.int64, count=n),
            last_ts_ns=np.fromiter((s.last_ts_ns for s in states), dtype=np.int64, count=n),
            ath=np.fromiter((s.ath for s in states), dtype=np.float64, count=n),
            dev_sold_cumsum=np.fromiter(
                (s.dev_sold_cumsum for s in states), dtype=np.float64, count=n
            ),
            has_breakout=np.fromiter((s.has_breakout for s in states), dtype=bool, count=n),
            last_breakout_ts_ns=np.fromiter(
                (0 if s.last_breakout_ts_ns is None else s.last_breakout_ts_ns for s in states),
                dtype=np.int64,
                count=n,
            ),
        )

    def __len__(self) -> int:
        return len(self.n_rows)

    def take(self, idx: IntArray) -> PrefixBatch:
        """The states of the coins at ``idx`` (a copy)."""
        return PrefixBatch(**{f.name: getattr(self, f.name)[idx] for f in fields(PrefixBatch)})

    def put(self, idx: IntArray, states: PrefixBatch) -> None:
        """Overwrite the states of the coins at ``idx`` with ``states`` (same order)."""
        for f in fields(PrefixBatch):
            getattr(self, f.name)[idx] = getattr(states, f.name)


def advance_prefix_batch(
    prefix: PrefixBatch, timestamps_ns: IntArray, price_high: FloatArray, dev_sold: FloatArray
) -> PrefixBatch:
    """``advance_prefix_state`` for many coins at once.

    Arguments are (coins, rows): each coin's history rows in time order, right-aligned, with
    padding on the left marked by a NaN ``price_high`` (a history row never has one). NULL
    ``dev_sold_amount`` counts as 0. Gives the same states as folding row by row.
    """
    g, width = timestamps_ns.shape
    if width == 0 or g == 0:
        return prefix
    n_new = (~np.isnan(price_high)).sum(axis=1)
    running = np.fmax.accumulate(np.concatenate((prefix.ath[:, None], price_high), axis=1), axis=1)
    breakout = price_high > running[:, :-1]  # NaN (padding, or no earlier row) compares False
    any_breakout = breakout.any(axis=1)
    last_col = width - 1 - np.argmax(breakout[:, ::-1], axis=1)
    rows = np.arange(g)
    with np.errstate(all="ignore"):
        # a sequential sum, like the reference's running sum; padding adds 0.0 (exact)
        dev_sum = np.cumsum(
            np.concatenate(
                (prefix.dev_sold_cumsum[:, None], np.where(np.isnan(dev_sold), 0.0, dev_sold)), 1
            ),
            axis=1,
        )[:, -1]
    has_new = n_new > 0
    first_col = np.clip(width - n_new, 0, width - 1)
    return PrefixBatch(
        n_rows=prefix.n_rows + n_new,
        first_ts_ns=np.where(
            (prefix.n_rows == 0) & has_new, timestamps_ns[rows, first_col], prefix.first_ts_ns
        ),
        last_ts_ns=np.where(has_new, timestamps_ns[:, -1], prefix.last_ts_ns),
        ath=running[:, -1],
        dev_sold_cumsum=dev_sum,
        has_breakout=prefix.has_breakout | any_breakout,
        last_breakout_ts_ns=np.where(
            any_breakout, timestamps_ns[rows, last_col], prefix.last_breakout_ts_ns
        ),
    )
