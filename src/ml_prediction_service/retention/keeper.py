"""The partition keeper: a supervised task that keeps partitions ready ahead of time and
drops those whose whole range is past its table's retention (docs/retention.md).

One replica keeps at a time (a session advisory lock, tried: another replica that holds it
keeps this round). Every step is idempotent and reads the catalog again, so a keeper that
died half-way is finished by the next round. A lock not granted in time is retried next round
(``ml_partition_lock_retries_total``); another error on one table is logged and counted
(``ml_errors_total{type="partition_keeper"}``); the other tables are still kept.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import asyncpg

from ml_prediction_service.config import Settings
from ml_prediction_service.db import partitions
from ml_prediction_service.db.partitions import TABLES, TableSpec
from ml_prediction_service.db.pool import CONNECTION_ERRORS
from ml_prediction_service.observability.metrics import Metrics

logger = logging.getLogger(__name__)

# Past this many partitions per table, queries that cannot prune (lookups by id) plan and
# probe every one of them: a warning says so.
MANY_PARTITIONS = 500


def retentions(settings: Settings) -> dict[str, timedelta | None]:
    """Each table's retention (None: kept forever)."""
    days = {
        partitions.PREDICTIONS.name: settings.predictions_retention_days,
        partitions.OUTBOX.name: settings.outbox_retention_days,
        partitions.WEBHOOK_LOG.name: settings.webhook_log_retention_days,
        partitions.EVALUATIONS.name: settings.evaluations_retention_days,
    }
    return {name: timedelta(days=d) if d > 0 else None for name, d in days.items()}


@dataclass
class Round:
    """What one round did (tests and logs read it)."""

    now: datetime
    skipped: bool = False  # another keeper held the lock
    created: list[str] = field(default_factory=list)
    moved: int = 0  # rows taken over from DEFAULT partitions
    detached: list[str] = field(default_factory=list)
    kept_open: list[str] = field(default_factory=list)  # expired, but open rows in it
    dropped: list[partitions.Dropped] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock_retries: list[str] = field(default_factory=list)  # gave up on a lock: next round
    default_rows: dict[str, int] = field(default_factory=dict)


class PartitionKeeper:
    def __init__(
        self,
        pool: asyncpg.Pool,
        settings: Settings,
        metrics: Metrics,
        *,
        clock: Callable[[], datetime] | None = None,
        tables: tuple[TableSpec, ...] = TABLES,
    ) -> None:
        self.pool = pool
        self.metrics = metrics
        self.interval = settings.partition_interval
        self.ahead = settings.partitions_ahead
        self.every = settings.partition_keeper_interval_seconds
        self.retention = retentions(settings)
        self.tables = tables
        self.clock = clock or (lambda: datetime.now(UTC))
        self.last: Round | None = None
        self._not_partitioned: set[str] = set()
        self._default_rows: dict[str, int] = {}
        for name, kept in self.retention.items():
            if kept is not None and kept / self.interval > MANY_PARTITIONS:
                logger.warning(
                    "%s keeps %.0f partitions (retention %s / PARTITION_INTERVAL %s): "
                    "lookups by id probe each one; a longer interval is cheaper",
                    name,
                    kept / self.interval,
                    kept,
                    self.interval,
                )

    async def run(self) -> None:
        while True:
            await self.run_once()
            await asyncio.sleep(self.every)

    async def run_once(self, now: datetime | None = None) -> Round:
        report = Round(now or self.clock())
        async with self.pool.acquire() as conn:
            if not await partitions.try_lock(conn):
                report.skipped = True
                return report
            try:
                await self._finish(conn, report)  # left by a keeper that died half-way
                for spec in self.tables:
                    try:
                        await self._keep(conn, spec, report)
                    except CONNECTION_ERRORS:
                        raise
                    except asyncpg.LockNotAvailableError as exc:
                        # lock_timeout: busy table, not a fault; the next round does it
                        self.metrics.partition_lock_retries_total.labels(table=spec.name).inc()
                        report.lock_retries.append(spec.name)
                        logger.info(
                            "partition keeper: %s: lock not granted in time (%s); "
                            "tried again next round",
                            spec.name,
                            exc,
                        )
                    except asyncpg.PostgresError as exc:
                        self.metrics.errors_total.labels(type="partition_keeper").inc()
                        report.errors.append(f"{spec.name}: {type(exc).__name__}: {exc}")
                        logger.warning(
                            "partition keeper: %s: %s: %s (tried again next round)",
                            spec.name,
                            type(exc).__name__,
                            exc,
                        )
                await self._finish(conn, report)
                await self._observe(conn, report)
            finally:
                await partitions.unlock(conn)
        self.last = report
        return report

    async def _keep(self, conn: asyncpg.Connection, spec: TableSpec, report: Round) -> None:
        state = await partitions.inspect(conn, spec.name)
        if state is None:
            return
        if not state.partitioned:
            if spec.name not in self._not_partitioned:
                self._not_partitioned.add(spec.name)
                logger.warning(
                    "%s is not partitioned: no retention for it until `migrate --partition` "
                    "converts it (docs/retention.md)",
                    spec.name,
                )
            return
        for lo, hi in partitions.wanted_ranges(state.end, report.now, self.interval, self.ahead):
            moved = await partitions.create_partition(conn, spec, lo, hi)
            if moved is None:
                continue
            name = partitions.partition_name(spec.name, lo)
            report.created.append(name)
            report.moved += moved
            logger.info(
                "partition %s created for [%s, %s)%s",
                name,
                lo.isoformat(),
                hi.isoformat(),
                f"; {moved} rows moved into it from the DEFAULT partition" if moved else "",
            )
        kept = self.retention.get(spec.name)
        if kept is None:
            return
        cutoff = report.now - kept
        for part in state.ranges:
            if part.hi is None or part.hi > cutoff:
                continue
            if await partitions.detach(conn, spec, part):
                report.detached.append(part.name)
            else:
                report.kept_open.append(part.name)
                logger.warning(
                    "partition %s is past its retention but holds open deliveries: kept",
                    part.name,
                )

    async def _finish(self, conn: asyncpg.Connection, report: Round) -> None:
        try:
            dropped = await partitions.finish_detached(conn)
        except CONNECTION_ERRORS:
            raise
        except asyncpg.LockNotAvailableError as exc:
            self.metrics.partition_lock_retries_total.labels(table="detached").inc()
            report.lock_retries.append("detached")
            logger.info("partition keeper: drop waited too long for a lock (%s); next round", exc)
            return
        except asyncpg.PostgresError as exc:
            self.metrics.errors_total.labels(type="partition_keeper").inc()
            report.errors.append(f"drop: {type(exc).__name__}: {exc}")
            logger.warning("partition keeper: drop failed: %s (tried again next round)", exc)
            return
        for item in dropped:
            self.metrics.partitions_dropped_total.labels(table=item.table).inc()
            logger.info(
                "partition %s dropped (retention): %d rows%s",
                item.partition,
                item.rows,
                " added to prediction_model_daily_stats"
                if partitions.SPECS[item.table].rollup
                else "",
            )
        report.dropped.extend(dropped)

    async def _observe(self, conn: asyncpg.Connection, report: Round) -> None:
        for spec in self.tables:
            state = await partitions.inspect(conn, spec.name)
            if state is None or not state.partitioned:
                continue
            rows = await partitions.default_rows(conn, state)
            report.default_rows[spec.name] = rows
            self.metrics.partitions.labels(table=spec.name).set(len(state.ranges))
            self.metrics.partition_default_rows.labels(table=spec.name).set(rows)
            if rows > self._default_rows.get(spec.name, 0):
                logger.warning(
                    "%s: %d rows in its DEFAULT partition (outside every partition's range; "
                    "kept, never dropped)",
                    spec.name,
                    rows,
                )
            self._default_rows[spec.name] = rows
