"""Health tracking: a background probe keeps the database state current, so health turns
503 within seconds of losing the database and 200 again once it is back."""

from __future__ import annotations

import asyncio
import logging
import time

import asyncpg

from ml_prediction_service.db.pool import CONNECTION_ERRORS
from ml_prediction_service.db.schema import (
    TriggerStatus,
    install_coin_metrics_trigger,
    trigger_status,
)
from ml_prediction_service.observability.metrics import Metrics

logger = logging.getLogger(__name__)

# A failing probe query counts too, whatever PostgreSQL says.
DB_ERRORS = (*CONNECTION_ERRORS, asyncpg.PostgresError)


class HealthMonitor:
    """Probes the database every ``interval`` seconds and (re)installs the trigger."""

    def __init__(self, pool: asyncpg.Pool, metrics: Metrics, *, interval: float = 2.0) -> None:
        self.pool = pool
        self.metrics = metrics
        self.interval = interval
        self.started_at = time.time()
        self.db_connected = False
        self.last_error: str | None = None
        self.trigger = TriggerStatus(False, reason="not checked yet")

    @property
    def uptime_seconds(self) -> float:
        return time.time() - self.started_at

    def record_db_failure(self, exc: BaseException) -> None:
        """Anyone who sees the database fail reports it here."""
        if self.db_connected:
            logger.warning("database connection lost: %s", exc)
        self.db_connected = False
        self.metrics.db_connected.set(0)
        self.last_error = f"database: {type(exc).__name__}: {exc}".rstrip(": ")

    def record_db_ok(self) -> None:
        if not self.db_connected:
            logger.info("database connected")
        self.db_connected = True
        self.metrics.db_connected.set(1)

    async def check_once(self, deadline_seconds: float = 1.5) -> None:
        try:
            async with asyncio.timeout(deadline_seconds), self.pool.acquire() as conn:
                await conn.fetchval("SELECT 1")
                status = await trigger_status(conn)
                if not status.installed:  # table appeared, or trigger dropped: (re)install
                    status = await install_coin_metrics_trigger(conn)
                if status != self.trigger:
                    logger.info("coin_metrics trigger: %s", status)
                self.trigger = status
        except DB_ERRORS as exc:
            self.record_db_failure(exc)
            self.metrics.errors_total.labels(type="db").inc()
            return
        self.record_db_ok()

    async def run(self) -> None:
        while True:
            await self.check_once()
            await asyncio.sleep(self.interval)
