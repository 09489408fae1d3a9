"""The ingest side owns the coin_metrics trigger: it checks it every interval and installs
it as soon as the table exists (or the trigger was dropped). Health and the polling fallback
read :attr:`TriggerKeeper.status`; nothing else installs it (``migrate`` does once, by hand)."""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from ml_prediction_service.db.pool import DB_ERRORS
from ml_prediction_service.db.schema import (
    TriggerStatus,
    install_coin_metrics_trigger,
    trigger_status,
)

logger = logging.getLogger(__name__)


class TriggerKeeper:
    def __init__(self, pool: asyncpg.Pool, *, interval: float = 2.0) -> None:
        self.pool = pool
        self.interval = interval
        self.status = TriggerStatus(False, reason="not checked yet")

    async def check_once(self, deadline_seconds: float = 1.5) -> TriggerStatus:
        """Inspect the trigger and (re)install it if it is missing; a database error keeps
        the last known status (health reports the database itself)."""
        try:
            async with asyncio.timeout(deadline_seconds), self.pool.acquire() as conn:
                status = await trigger_status(conn)
                if not status.installed:  # table appeared, or trigger dropped: (re)install
                    status = await install_coin_metrics_trigger(conn)
        except DB_ERRORS:
            return self.status
        if status != self.status:
            logger.info("coin_metrics trigger: %s", status)
        self.status = status
        return status

    async def run(self) -> None:
        while True:
            await self.check_once()
            await asyncio.sleep(self.interval)
