"""The collector stand-in: inserts simulated rows into ``coin_metrics`` in batches.

One multi-row statement per batch (``INSERT ... SELECT FROM unnest(...)``), so a
statement-level trigger on ``coin_metrics`` fires once per batch, exactly as with a
collector that writes in bulk. Three pacings:

* ``rate=None`` (default): real time. A row is due when the simulated clock reaches its
  offset; the simulated clock runs ``speed`` times faster than the wall clock.
* ``rate=R`` (R > 0): R rows per second, in simulated-time order (the simulated clock then
  runs as fast as the rate demands; ``speed`` is ignored).
* ``rate=0``: as fast as the database accepts.

Timestamps are wall-clock times and never lie ahead of the wall clock at insert time, like
the real collector's: each coin is placed when the replay launches it (``placement.py``),
so that a coin replayed faster than real time has its past compressed behind "now" (its
newest inserted row is stamped about when it is inserted) and its rows stay one phase
interval apart. Before each insert the batch also waits, if need be, until the wall clock
has reached its newest timestamp (a safety net against clock adjustments).

``stamp="insert"`` (the soak run) stamps every row with the wall-clock time of its insert
instead (rows of one batch a few microseconds apart, each coin's rows in time order): the
data timestamps then follow the wall clock whatever the pacing, so partitions by
``data_timestamp`` roll over with it. A coin's rows are then no longer one phase interval
apart (their spacing is the pacing's).

Rows that are due are inserted as soon as ``batch_size`` of them are ready, otherwise at most
``flush_interval_seconds`` after the previous insert (like a collector flushing its buffer).

Every run is bounded by ``duration_seconds`` and ends early when the simulation is over.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from ml_prediction_service.db import collector_repo
from ml_prediction_service.stand_ins.placement import anchor_epoch, newest_age
from ml_prediction_service.stand_ins.simulator import (
    BOOL_COLUMNS,
    INT_COLUMNS,
    METRIC_COLUMNS,
    CoinRows,
)
from ml_prediction_service.stand_ins.stream import RowBlock, SimulationStream

INSERT_SQL = collector_repo.insert_statement(
    METRIC_COLUMNS, bool_columns=BOOL_COLUMNS, int_columns=INT_COLUMNS
)


async def insert_rows(conn: Any, block: RowBlock, epochs: NDArray[np.float64] | None = None) -> int:
    """Insert ``block`` with ONE statement (``conn``: asyncpg connection or pool), stamped
    ``epochs`` (POSIX seconds; default: the simulation's own clock, as given)."""
    if len(block) == 0:
        return 0
    await conn.execute(INSERT_SQL, *block.column_lists(epochs))
    return len(block)


@dataclass(frozen=True)
class CollectorConfig:
    """How to insert. See the module docstring for the three pacings."""

    duration_seconds: float = 60.0
    speed: float = 1.0
    rate: float | None = None
    batch_size: int = 500
    progress_interval_seconds: float = 5.0
    flush_interval_seconds: float = 0.05  # a smaller batch waits at most this long
    stamp: Literal["placed", "insert"] = "placed"  # see the module docstring

    def __post_init__(self) -> None:
        if self.duration_seconds <= 0 or self.speed <= 0 or self.batch_size < 1:
            raise ValueError("duration and speed must be > 0 and batch_size >= 1")
        if self.rate is not None and self.rate < 0:
            raise ValueError("rate must be >= 0 (0: as fast as possible)")
        if self.progress_interval_seconds <= 0 or self.flush_interval_seconds < 0:
            raise ValueError("progress_interval_seconds must be > 0, flush interval >= 0")
        if self.stamp not in ("placed", "insert"):
            raise ValueError("stamp must be 'placed' or 'insert'")


@dataclass
class CollectorStats:
    """What a run did."""

    rows_inserted: int = 0
    batches: int = 0
    elapsed_seconds: float = 0.0
    coins_launched: int = 0
    simulation_over: bool = False
    newest_timestamp: datetime | None = None  # the newest row inserted (a wall-clock time)

    @property
    def rows_per_second(self) -> float:
        return self.rows_inserted / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0


# Safety net: no loop turn is shorter than ~a batch insert or a 1 ms sleep.
_MIN_SLEEP = 0.001
_SIM_CHUNK_SECONDS = 60.0
# a batch waits for the wall clock to reach its newest timestamp; placement makes that wait
# zero, so anything longer is a clock jump: wait at most this long per turn
_MAX_CLOCK_WAIT = 1.0
# stamp="insert": rows of one batch this far apart (seconds; distinct after the
# microsecond rounding of timestamptz)
_INSERT_STAMP_STEP = 2e-6


class _Runner:
    def __init__(
        self,
        conn: Any,
        stream: SimulationStream,
        config: CollectorConfig,
        progress: Callable[[str], None] | None,
    ) -> None:
        self.conn = conn
        self.stream = stream
        self.config = config
        self.progress = progress
        self.stats = CollectorStats()
        self.pending = RowBlock.empty(stream.config.start.timestamp())
        self.sim_cursor = -1.0
        self.t0 = time.monotonic()
        self.t0_wall = time.time()  # the wall time of t0
        # per coin index: seconds from the simulation's clock to the wall-clock placement
        self.shift = np.full(stream.config.n_coins, np.nan)
        # rate pacing starts once the first rows are simulated: the set-up time must not turn
        # into a catch-up burst
        self.pace_t0: float | None = None
        self.last_insert = self.t0 - config.flush_interval_seconds
        self.last_stamp = 0.0  # stamp="insert": the newest stamp given so far

    def _pull(self, until: float) -> None:
        block = self.stream.take_until(until)
        for coin in self.stream.launched:
            self._place(coin)
        if len(block):
            self.pending = RowBlock.concat([self.pending, block], self.pending.start_epoch)
        self.sim_cursor = max(self.sim_cursor, until)

    def _place(self, coin: CoinRows) -> None:
        """Fix where ``coin`` goes on the wall clock (see ``placement.py``)."""
        first = int(coin.offsets[0])
        if self.config.rate is None:
            speed = self.config.speed
            launch = self.t0_wall + first / speed
            # the newest row due before the deadline
            newest = newest_age(coin, self.config.duration_seconds * speed)
        else:  # the replay's speed is unknown: the coin's whole life before its launch
            speed, launch = math.inf, time.time()
            newest = newest_age(coin, math.inf)
        anchor = anchor_epoch(launch, newest or 0, speed)
        self.shift[coin.spec.index] = anchor - (self.pending.start_epoch + first)

    def _stamps(self, block: RowBlock) -> NDArray[np.float64]:
        """The rows' wall-clock timestamps (POSIX seconds)."""
        if self.config.stamp == "insert":
            return self._insert_stamps(len(block))
        stamps: NDArray[np.float64] = block.epoch_seconds() + self.shift[block.coins]
        return stamps

    def _insert_stamps(self, n: int) -> NDArray[np.float64]:
        """``n`` stamps ending now, in increasing order and after every earlier one."""
        first = max(
            time.time() - (n - 1) * _INSERT_STAMP_STEP, self.last_stamp + _INSERT_STAMP_STEP
        )
        stamps = first + np.arange(n, dtype=np.float64) * _INSERT_STAMP_STEP
        self.last_stamp = float(stamps[-1])
        return stamps

    async def _insert(self, batch: RowBlock) -> None:
        stamps = self._stamps(batch)
        newest = float(stamps.max())
        for _ in range(100):  # bounded; placement makes the first check pass
            ahead = newest - time.time()
            if ahead <= 0:
                break
            await asyncio.sleep(min(ahead, _MAX_CLOCK_WAIT))
        await insert_rows(self.conn, batch, stamps)
        self.stats.rows_inserted += len(batch)
        self.stats.batches += 1
        newest_at = datetime.fromtimestamp(newest, tz=UTC)
        if self.stats.newest_timestamp is None or newest_at > self.stats.newest_timestamp:
            self.stats.newest_timestamp = newest_at

    def _fill_ahead(self) -> None:
        """Fast / rate pacing: make at least one batch ready, ignoring the clock."""
        for _ in range(10_000):  # bounded: each turn advances the simulated cursor
            if len(self.pending) >= self.config.batch_size or self.stream.exhausted:
                return
            nxt = self.stream.next_offset()
            if nxt is None:
                return
            self._pull(max(self.sim_cursor + _SIM_CHUNK_SECONDS, nxt))

    def _allowed(self, now: float) -> int:
        elapsed = now - self.t0
        if self.config.rate is None:
            self._pull(elapsed * self.config.speed)
            return len(self.pending)
        self._fill_ahead()
        if self.config.rate == 0:
            return len(self.pending)
        if self.pace_t0 is None:
            self.pace_t0 = time.monotonic()
        paced = max(now - self.pace_t0, 0.0)
        return int(self.config.rate * paced) - self.stats.rows_inserted

    def _wake_at(self, now: float) -> float:
        if self.config.rate is None:
            nxt = self.stream.next_offset()
            if nxt is not None:
                return self.t0 + nxt / self.config.speed
            return now + 1.0
        if self.config.rate > 0:
            start = self.t0 if self.pace_t0 is None else self.pace_t0
            return start + (self.stats.rows_inserted + 1) / self.config.rate
        return now

    def _report(self, now: float) -> None:
        self.stats.elapsed_seconds = now - self.t0
        if self.progress is None:
            return
        newest = self.stats.newest_timestamp
        last = newest.isoformat(timespec="seconds") if newest is not None else "-"
        self.progress(
            f"simulate: {self.stats.rows_inserted} rows inserted in "
            f"{self.stats.elapsed_seconds:.1f}s ({self.stats.rows_per_second:.0f} rows/s), "
            f"{self.stream.coins_launched} coins launched, "
            f"{self.stream.coins_launched - self.stream.coins_finished} alive, "
            f"newest row {last}"
        )

    async def run(self) -> CollectorStats:
        cfg = self.config
        deadline = self.t0 + cfg.duration_seconds
        next_report = self.t0 + cfg.progress_interval_seconds
        max_turns = int(cfg.duration_seconds / _MIN_SLEEP) + 10_000
        for _ in range(max_turns):  # bounded in count and by the deadline
            now = time.monotonic()
            if now >= deadline:
                break
            if now >= next_report:
                self._report(now)
                next_report = now + cfg.progress_interval_seconds
            ready = max(0, min(self._allowed(now), len(self.pending)))
            flush_due = now - self.last_insert >= cfg.flush_interval_seconds
            if ready > 0 and (ready >= cfg.batch_size or flush_due or cfg.rate == 0):
                n = min(cfg.batch_size, ready)
                self.last_insert = now
                batch = self.pending.slice(0, n)
                self.pending = self.pending.slice(n, len(self.pending))
                await self._insert(batch)
                continue
            if self.stream.exhausted and len(self.pending) == 0:
                self.stats.simulation_over = True
                break
            wake = min(self._wake_at(now), deadline, next_report)
            if ready > 0:
                wake = min(wake, self.last_insert + cfg.flush_interval_seconds)
            await asyncio.sleep(max(wake - time.monotonic(), _MIN_SLEEP))
        self.stats.coins_launched = self.stream.coins_launched
        self._report(time.monotonic())
        return self.stats


async def run_collector(
    conn: Any,
    stream: SimulationStream,
    config: CollectorConfig,
    *,
    progress: Callable[[str], None] | None = print,
) -> CollectorStats:
    """Insert rows of ``stream`` into ``coin_metrics`` as configured; return the stats.

    ``conn`` is an asyncpg connection or pool. ``progress`` receives one line every
    ``progress_interval_seconds`` and a final line (None: silent).
    """
    return await _Runner(conn, stream, config, progress).run()
