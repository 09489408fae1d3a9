"""Polling fallback for when the coin_metrics trigger cannot be installed (e.g. no privilege
on the collector's table, or someone disabled it).

Reads new ``coin_metrics`` rows by a watermark persisted in ``prediction_poll_state``,
re-reading an overlap window (rows whose transaction started earlier but committed later),
and turns them into the same durable events the trigger would write; the worker consumes
them as usual. Only one replica polls at a time (advisory lock); a repeated row only costs a
little work, since predictions are idempotent.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import asyncpg

from ml_prediction_service.db import poll_repo
from ml_prediction_service.pipeline.trigger import TriggerKeeper
from ml_prediction_service.pipeline.wakeup import Broadcast

logger = logging.getLogger(__name__)

CONSUMER = "coin_metrics"


class MetricsPoller:
    def __init__(
        self,
        pool: asyncpg.Pool,
        trigger: TriggerKeeper,
        wakeup: Broadcast,
        *,
        interval: float,
        overlap_seconds: float = 60.0,
        start_lookback_seconds: float = 300.0,
        max_rows: int = 10_000,
    ) -> None:
        self.pool = pool
        self.trigger = trigger
        self.wakeup = wakeup
        self.interval = interval
        self.overlap = timedelta(seconds=overlap_seconds)
        self.start_lookback = timedelta(seconds=start_lookback_seconds)
        self.max_rows = max_rows
        self.active = False
        self._seen: dict[tuple[str, datetime], None] = {}

    def should_poll(self) -> bool:
        trigger = self.trigger.status
        return not trigger.installed and "does not exist" not in (trigger.reason or "")

    async def run(self) -> None:
        while True:
            if self.should_poll():
                if not self.active:
                    logger.warning(
                        "coin_metrics trigger not active (%s): polling every %.1fs",
                        self.trigger.status.reason,
                        self.interval,
                    )
                self.active = True
                while await self.poll_once() >= self.max_rows:
                    pass  # a full page: read on
            elif self.active:
                await self.poll_once()  # rows inserted just before the trigger came back
                self.active = False
                logger.info("coin_metrics trigger active again: polling stopped")
            await asyncio.sleep(self.interval)

    async def poll_once(self) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            if not await poll_repo.try_lock(conn):
                return 0  # another replica polls
            watermark = await poll_repo.watermark(conn, CONSUMER)
            if watermark is None:
                watermark = datetime.now(UTC) - self.start_lookback
            rows = await poll_repo.new_rows(conn, watermark - self.overlap, self.max_rows)
            fresh = [r for r in rows if (r["mint"], r["timestamp"]) not in self._seen]
            if fresh:
                await poll_repo.queue_events(conn, fresh)
            if rows:
                newest = max(watermark, rows[-1]["timestamp"])
                await poll_repo.save_watermark(conn, CONSUMER, newest)
                watermark = newest
        for r in fresh:
            self._seen[(r["mint"], r["timestamp"])] = None
        horizon = watermark - self.overlap
        for key in [k for k in self._seen if k[1] <= horizon]:
            del self._seen[key]
        if fresh:
            self.wakeup.set()
        return len(rows)
