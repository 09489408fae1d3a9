"""Merge simulated coins into one time-ordered stream of ``coin_metrics`` rows.

Coins are generated lazily, when the stream reaches their launch, and dropped when their
life is over, so memory holds only the coins alive at the stream's position. The order of
rows is (timestamp, coin index), independent of how the stream is consumed.

Offsets are simulated seconds after ``SimConfig.start``; where a row lands on the wall clock
is the collector's decision (``stand_ins/placement.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ml_prediction_service.stand_ins.simulator import (
    BOOL_COLUMNS,
    INT_COLUMNS,
    METRIC_COLUMNS,
    NUMERIC_COLUMNS,
    CoinRows,
    SimConfig,
    plan_coins,
    simulate_coin,
)


def _dtype(column: str) -> type[np.generic]:
    if column in BOOL_COLUMNS:
        return np.bool_
    if column in INT_COLUMNS:
        return np.int64
    return np.float64


@dataclass(frozen=True)
class RowBlock:
    """Rows in column form. NUMERIC NULLs are NaN; ``offsets`` are seconds after start;
    ``coins`` the index of each row's coin (``CoinSpec.index``)."""

    start_epoch: float
    mints: NDArray[np.object_]
    offsets: NDArray[np.int64]
    coins: NDArray[np.int64]
    columns: dict[str, NDArray[np.generic]]

    def __len__(self) -> int:
        return int(self.offsets.shape[0])

    def slice(self, begin: int, end: int) -> RowBlock:
        return RowBlock(
            self.start_epoch,
            self.mints[begin:end],
            self.offsets[begin:end],
            self.coins[begin:end],
            {k: v[begin:end] for k, v in self.columns.items()},
        )

    @staticmethod
    def concat(blocks: list[RowBlock], start_epoch: float) -> RowBlock:
        blocks = [b for b in blocks if len(b)]
        if len(blocks) == 1:
            return blocks[0]
        if not blocks:
            return RowBlock.empty(start_epoch)
        return RowBlock(
            start_epoch,
            np.concatenate([b.mints for b in blocks]),
            np.concatenate([b.offsets for b in blocks]),
            np.concatenate([b.coins for b in blocks]),
            {c: np.concatenate([b.columns[c] for b in blocks]) for c in METRIC_COLUMNS},
        )

    @staticmethod
    def empty(start_epoch: float) -> RowBlock:
        return RowBlock(
            start_epoch,
            np.empty(0, dtype=object),
            np.empty(0, dtype=np.int64),
            np.empty(0, dtype=np.int64),
            {c: np.empty(0, dtype=_dtype(c)) for c in METRIC_COLUMNS},
        )

    def epoch_seconds(self) -> NDArray[np.float64]:
        """Row timestamps as POSIX seconds, on the simulation's own clock (``start`` +
        offset)."""
        return self.start_epoch + self.offsets.astype(np.float64)

    def to_frame(self) -> pd.DataFrame:
        """A DataFrame like ``SELECT * FROM coin_metrics`` after NUMERIC -> float."""
        frame = pd.DataFrame({"mint": self.mints.astype(str)})
        frame["timestamp"] = pd.to_datetime(self.epoch_seconds(), unit="s", utc=True)
        for name in METRIC_COLUMNS:
            frame[name] = self.columns[name]
        return frame

    def column_lists(self, epochs: NDArray[np.float64] | None = None) -> list[list[object]]:
        """One Python list per column (mint, epoch, metrics...), NULLs as ``None``.
        ``epochs``: the rows' timestamps (POSIX seconds; default :meth:`epoch_seconds`)."""
        stamps = self.epoch_seconds() if epochs is None else epochs
        out: list[list[object]] = [self.mints.tolist(), stamps.tolist()]
        for name in METRIC_COLUMNS:
            values = self.columns[name]
            items: list[object] = values.tolist()
            if name in NUMERIC_COLUMNS:
                for i in np.flatnonzero(np.isnan(values.astype(np.float64))).tolist():
                    items[i] = None
            out.append(items)
        return out


@dataclass
class _Cursor:
    rows: CoinRows
    position: int = 0


class SimulationStream:
    """Pull rows in time order: ``take_until(offset)`` returns rows up to that offset."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self._plan = plan_coins(config)
        self._next_coin = 0
        self._active: list[_Cursor] = []
        self.coins_launched = 0
        self.coins_finished = 0
        self._start_epoch = config.start.timestamp()
        # the coins (with rows) that the latest take_until launched (reset by every call)
        self.launched: list[CoinRows] = []

    @property
    def exhausted(self) -> bool:
        """No coin left to launch and no row left to emit."""
        return self._next_coin >= len(self._plan) and not self._active

    def next_offset(self) -> float | None:
        """Offset (seconds after start) of the next row, or None when exhausted."""
        candidates = [float(c.rows.offsets[c.position]) for c in self._active]
        if self._next_coin < len(self._plan):
            candidates.append(float(self._plan[self._next_coin].launch_offset))
        return min(candidates) if candidates else None

    def take_until(self, offset: float) -> RowBlock:
        """Every not yet taken row with offset <= ``offset``, ordered (timestamp, coin).
        The coins it launches are in ``launched`` until the next call."""
        self.launched = []
        while (
            self._next_coin < len(self._plan)
            and self._plan[self._next_coin].launch_offset <= offset
        ):
            rows = simulate_coin(self._plan[self._next_coin], self.config)
            self._next_coin += 1
            self.coins_launched += 1
            if len(rows):
                self._active.append(_Cursor(rows))
                self.launched.append(rows)
            else:
                self.coins_finished += 1
        parts: list[RowBlock] = []
        alive: list[_Cursor] = []
        limit = math.floor(offset) if math.isfinite(offset) else np.iinfo(np.int64).max
        for cursor in self._active:
            rows = cursor.rows
            stop = int(np.searchsorted(rows.offsets, limit, side="right"))
            if stop > cursor.position:
                sl = slice(cursor.position, stop)
                parts.append(
                    RowBlock(
                        self._start_epoch,
                        np.full(stop - cursor.position, rows.spec.mint, dtype=object),
                        rows.offsets[sl],
                        np.full(stop - cursor.position, rows.spec.index, dtype=np.int64),
                        {k: v[sl] for k, v in rows.columns.items()},
                    )
                )
                cursor.position = stop
            if cursor.position < len(rows):
                alive.append(cursor)
            else:
                self.coins_finished += 1
        self._active = alive
        block = RowBlock.concat(parts, self._start_epoch)
        if len(block) == 0:
            return block
        order = np.lexsort((block.coins, block.offsets))
        return RowBlock(
            block.start_epoch,
            block.mints[order],
            block.offsets[order],
            block.coins[order],
            {k: v[order] for k, v in block.columns.items()},
        )

    def take_all(self) -> RowBlock:
        """Every remaining row (use for small simulations: it holds them all in memory)."""
        return self.take_until(math.inf)


def simulate_frame(config: SimConfig) -> pd.DataFrame:
    """All rows of a simulation as a DataFrame (mint, timestamp, metric columns)."""
    return SimulationStream(config).take_all().to_frame()
