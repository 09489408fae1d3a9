"""The recent rows of many coins as right-aligned 2-D arrays (the fast path's input).

Row ``c`` of every array belongs to coin ``c``; its newest row is the last column, older rows
go left, and the ``K - lengths[c]`` leftmost columns are padding (NaN). Only history rows are
in a tail: a row whose price_close, price_high or volume_sol is NULL/NaN is not. The history
store (``pipeline/history.py``) builds the service's tails with ``TailBatch.from_stacked``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ml_prediction_service.arrays import FloatArray, IntArray

from .names import BASE_COLUMNS

__all__ = ["TailBatch"]


@dataclass(frozen=True, slots=True)
class TailBatch:
    """Right-aligned recent history of ``n`` coins, ``K`` rows deep.

    ``timestamps_ns`` (n, K) int64 epoch nanoseconds; ``lengths`` (n,) rows present per coin;
    ``columns`` base column name → (n, K) float64, NaN for NULL and for padding.
    """

    timestamps_ns: IntArray
    lengths: IntArray
    columns: Mapping[str, FloatArray]

    @classmethod
    def from_stacked(
        cls, timestamps_ns: IntArray, values: FloatArray, lengths: IntArray
    ) -> TailBatch:
        """The tails of right-aligned rows of all base columns: ``values`` (n, K, F) holds
        ``BASE_COLUMNS[j]`` in ``values[:, :, j]`` (views, not copies)."""
        if values.shape[:2] != timestamps_ns.shape or values.shape[2] != len(BASE_COLUMNS):
            raise ValueError("values must be (coins, depth, len(BASE_COLUMNS)) like the timestamps")
        columns = {name: values[:, :, j] for j, name in enumerate(BASE_COLUMNS)}
        return cls(timestamps_ns=timestamps_ns, lengths=lengths, columns=columns)

    def take(self, idx: IntArray) -> TailBatch:
        """The tails of the coins at ``idx`` (a copy)."""
        return TailBatch(
            timestamps_ns=self.timestamps_ns[idx],
            lengths=self.lengths[idx],
            columns={name: values[idx] for name, values in self.columns.items()},
        )

    @property
    def n_coins(self) -> int:
        return int(self.timestamps_ns.shape[0])

    @property
    def depth(self) -> int:
        return int(self.timestamps_ns.shape[1])
