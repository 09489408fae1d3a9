"""Prefix states: exact full-history aggregates per coin, without re-reading the history.

The fast path computes the newest snapshot's features from a short tail of recent rows. Three
features need the coin's whole history — ``rolling_ath`` (running max), ``dev_sold_cumsum``
(running sum) and ``minutes_since_ath`` (last breakout, or the first row) — so the tail comes
with a :class:`PrefixBatch`: per coin, a handful of aggregates over every history row *before*
the tail. ``advance_prefix_batch`` folds newer rows into them, for many coins at once (the
history store, ``pipeline/history.py``, keeps them per coin between batches).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from ml_prediction_service.arrays import BoolArray, FloatArray, IntArray

__all__ = ["PrefixBatch", "advance_prefix_batch"]


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
    """The states after folding in newer history rows, for many coins at once.

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
