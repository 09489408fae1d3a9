"""Health: a background probe keeps the database's state current (the one writer of
``ml_db_connected`` and ``ml_events_pending``), so health turns 503 within seconds of losing
the database and 200 again once it is back; :func:`verdict` turns what the parts report into
healthy/degraded with the reasons."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg

from ml_prediction_service.db import events_repo, system_repo
from ml_prediction_service.db.pool import DB_ERRORS
from ml_prediction_service.db.schema import TriggerStatus
from ml_prediction_service.observability.metrics import Metrics

logger = logging.getLogger(__name__)

LAST_HOUR_INTERVAL_SECONDS = 60.0  # how often the hour's prediction count is refreshed
LAST_HOUR_DEADLINE_SECONDS = 30.0  # and how long one count may take
_COUNT_ERRORS: tuple[type[Exception], ...] = (TimeoutError, *DB_ERRORS)
UNPREDICTED_WINDOW_SECONDS = 60.0  # events without any active model degrade health this long


@dataclass(frozen=True)
class DatabaseState:
    """What the last probe saw (counts are those of the last successful probe)."""

    connected: bool
    last_error: str | None
    events_pending: int
    oldest_pending_at: datetime | None
    predictions_last_hour: int

    @property
    def oldest_pending_seconds(self) -> float | None:
        if self.oldest_pending_at is None:
            return None
        return (datetime.now(UTC) - self.oldest_pending_at).total_seconds()


@dataclass(frozen=True)
class FailedModel:
    id: int
    name: str
    error: str
    serving: bool  # a verified copy still serves (e.g. after its file changed on disk)


@dataclass(frozen=True)
class PrecisionBelowFloor:
    id: int  # the active model
    name: str
    precision: float  # over its last `alerts` evaluated alerts
    alerts: int
    floor: float

    @property
    def reason(self) -> str:
        return (
            f"model {self.id} ({self.name}) live alert precision {self.precision:.3f} over its "
            f"last {self.alerts} evaluated alerts is below ALERT_PRECISION_FLOOR {self.floor:g}"
        )


@dataclass(frozen=True)
class HealthReport:
    status: str  # healthy / degraded
    reasons: list[str]
    db: DatabaseState
    trigger: TriggerStatus
    active_models: int  # active models this replica knows (also while the database is away)
    uptime_seconds: int
    listener_connected: bool
    polling: bool
    events_processed: int
    batches: int
    coins_cached: int
    failed: list[FailedModel]
    # active models whose live alert precision is below ALERT_PRECISION_FLOOR
    below_precision_floor: list[PrecisionBelowFloor] = field(default_factory=list)


class HealthMonitor:
    """Probes the database every ``interval`` seconds."""

    def __init__(self, pool: asyncpg.Pool, metrics: Metrics, *, interval: float = 2.0) -> None:
        self.pool = pool
        self.metrics = metrics
        self.interval = interval
        self.started_at = time.time()
        self.state = DatabaseState(False, "not checked yet", 0, None, 0)
        self.checked_at = 0.0  # time.monotonic() of the last probe
        # The hour's prediction count is a figure, not a liveness check: at 1,000 events/s it
        # counts tens of millions of rows and takes seconds, so it is refreshed by its own loop
        # (every LAST_HOUR_INTERVAL_SECONDS, its own deadline) and a slow count never makes the
        # probe report the database as lost.
        self.last_hour = 0
        self.last_hour_interval = max(interval, LAST_HOUR_INTERVAL_SECONDS)

    @property
    def uptime_seconds(self) -> float:
        return time.time() - self.started_at

    @property
    def db_connected(self) -> bool:
        return self.state.connected

    async def current(self, max_age: float) -> DatabaseState:
        """The state, probed again first if the last probe is older than ``max_age``."""
        if time.monotonic() - self.checked_at > max_age:
            return await self.check_once()
        return self.state

    async def check_once(self, deadline_seconds: float = 1.5) -> DatabaseState:
        previous = self.state
        self.checked_at = time.monotonic()
        try:
            async with asyncio.timeout(deadline_seconds), self.pool.acquire() as conn:
                pending, oldest = await events_repo.pending(conn)
        except DB_ERRORS as exc:
            if previous.connected:
                logger.warning("database connection lost: %s", exc)
            self.metrics.errors_total.labels(type="db").inc()
            error = f"database: {type(exc).__name__}: {exc}".rstrip(": ")
            self.state = DatabaseState(
                False,
                error,
                previous.events_pending,
                previous.oldest_pending_at,
                previous.predictions_last_hour,
            )
        else:
            if not previous.connected:
                logger.info("database connected")
            self.state = DatabaseState(True, None, pending, oldest, self.last_hour)
            self.metrics.events_pending.set(pending)
        self.metrics.db_connected.set(1 if self.state.connected else 0)
        return self.state

    async def refresh_last_hour(self, deadline_seconds: float = LAST_HOUR_DEADLINE_SECONDS) -> None:
        """Count the last hour's predictions; a failure or timeout keeps the previous count
        (logged at debug: the liveness probe reports the database itself)."""
        try:
            async with asyncio.timeout(deadline_seconds), self.pool.acquire() as conn:
                self.last_hour = await system_repo.predictions_last_hour(conn)
        except _COUNT_ERRORS as exc:
            logger.debug("predictions_last_hour not refreshed: %s: %s", type(exc).__name__, exc)
            return
        state = self.state
        if state.connected:
            self.state = DatabaseState(
                True, None, state.events_pending, state.oldest_pending_at, self.last_hour
            )

    async def run(self) -> None:
        async def count_loop() -> None:
            while True:
                await self.refresh_last_hour()
                await asyncio.sleep(self.last_hour_interval)

        counting = asyncio.create_task(count_loop(), name="health-last-hour")
        try:
            while True:
                await self.check_once()
                await asyncio.sleep(self.interval)
        finally:
            counting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await counting


def verdict(
    *,
    db: DatabaseState,
    trigger_installed: bool,
    trigger_reason: str | None,
    pipeline_enabled: bool,
    listener_connected: bool,
    failing_models: list[tuple[int, str, str]],
    oldest_webhook_seconds: float = 0.0,
    webhook_limit_seconds: float = float("inf"),
    unpredicted_recently: int = 0,
    below_precision_floor: list[PrecisionBelowFloor] | None = None,
) -> list[str]:
    """Why the service is degraded (empty: healthy). ``failing_models``: (id, name, why)."""
    reasons = []
    if not db.connected:
        reasons.append(f"database not connected ({db.last_error or 'unknown error'})")
    if not trigger_installed:
        reasons.append(f"coin_metrics trigger not active: {trigger_reason}")
    if pipeline_enabled and not listener_connected and trigger_installed:
        reasons.append("NOTIFY listener not connected (reconnecting)")
    reasons += [f"model {i} ({name}) failing: {why}" for i, name, why in failing_models]
    reasons += [m.reason for m in below_precision_floor or ()]
    if unpredicted_recently:
        reasons.append(
            f"events arrive but no model is active ({unpredicted_recently} event(s) consumed "
            f"without a prediction, the last less than {UNPREDICTED_WINDOW_SECONDS:.0f}s ago): "
            "import or activate a model"
        )
    if oldest_webhook_seconds > webhook_limit_seconds:
        reasons.append(
            f"oldest open webhook delivery is {oldest_webhook_seconds:.0f}s old "
            f"(> WEBHOOK_HEALTH_MAX_PENDING_SECONDS {webhook_limit_seconds:g})"
        )
    return reasons
