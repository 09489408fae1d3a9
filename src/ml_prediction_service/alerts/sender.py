"""The webhook sender: delivers the outbox, off the prediction path.

Claims due deliveries (oldest open one per coin and URL, so each coin's webhooks arrive in
order), posts them with bounded concurrency, logs every attempt in
``prediction_webhook_log``, and retries network errors, 5xx and 429 with exponential
backoff and jitter (honouring Retry-After) until ``WEBHOOK_MAX_ATTEMPTS`` or
``WEBHOOK_MAX_AGE_SECONDS``; other 4xx fail at once. At-least-once: every POST carries an
``Idempotency-Key`` so receivers can drop a repeat (e.g. after a crash mid-send).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx

from ml_prediction_service.alerts.delivery import Attempt, next_attempt_at, post
from ml_prediction_service.alerts.testing import send_test
from ml_prediction_service.config import Settings
from ml_prediction_service.db import webhooks_repo
from ml_prediction_service.db.webhooks_repo import Delivery
from ml_prediction_service.models.metadata import ActiveModelRecord
from ml_prediction_service.observability.metrics import Metrics

logger = logging.getLogger(__name__)


class WebhookSender:
    def __init__(
        self, pool: asyncpg.Pool, settings: Settings, metrics: Metrics, wakeup: asyncio.Event
    ) -> None:
        self.pool = pool
        self.settings = settings
        self.metrics = metrics
        self.wakeup = wakeup
        self.client = httpx.AsyncClient(follow_redirects=False)
        self.slots = asyncio.Semaphore(settings.webhook_concurrency)

    async def close(self) -> None:
        await self.client.aclose()

    async def send_test(self, model: ActiveModelRecord) -> dict[str, Any]:
        """A sample payload for ``model`` now, with this sender's client (logged as a test)."""
        return await send_test(self.pool, self.client, self.settings, model)

    async def run(self) -> None:
        while True:
            sent = await self.send_due()
            if sent:
                continue
            await self.refresh_gauges()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wakeup.wait(), self.settings.webhook_poll_seconds)
            self.wakeup.clear()

    async def send_due(self) -> int:
        lease = self.settings.n8n_webhook_timeout + 30
        async with self.pool.acquire() as conn:
            deliveries = await webhooks_repo.claim_due(
                conn, self.settings.webhook_concurrency * 4, lease
            )
        if deliveries:
            await asyncio.gather(*(self._deliver(d) for d in deliveries))
        return len(deliveries)

    async def _deliver(self, delivery: Delivery) -> None:
        async with self.slots:
            attempt = await post(
                self.client,
                delivery.url,
                delivery.payload,
                idempotency_key=delivery.idempotency_key,
                secret=self.settings.n8n_webhook_secret,
                request_timeout=self.settings.n8n_webhook_timeout,
            )
        await self._record(delivery, attempt)

    def _decide(self, delivery: Delivery, attempt: Attempt) -> tuple[str, datetime | None]:
        if attempt.ok:
            return "delivered", None
        age = (datetime.now(UTC) - delivery.created_at).total_seconds()
        if (
            not attempt.retryable
            or delivery.attempt >= self.settings.webhook_max_attempts
            or age >= self.settings.webhook_max_age_seconds
        ):
            return "failed", None
        return "pending", next_attempt_at(
            delivery.attempt,
            attempt,
            base=self.settings.webhook_retry_base_seconds,
            cap=self.settings.webhook_retry_max_seconds,
        )

    async def _record(self, delivery: Delivery, attempt: Attempt) -> None:
        status, retry_at = self._decide(delivery, attempt)
        outcome = {"delivered": "delivered", "failed": "failed", "pending": "retry"}[status]
        async with self.pool.acquire() as conn, conn.transaction():
            await webhooks_repo.finish(
                conn, delivery.id, status, attempt.status, attempt.error, retry_at
            )
            await webhooks_repo.log_attempt(
                conn,
                {
                    "coin_id": delivery.coin_id,
                    "data_timestamp": delivery.data_timestamp,
                    "webhook_url": delivery.url,
                    "payload": delivery.payload,
                    "response_status": attempt.status,
                    "response_body": attempt.body,
                    "error_message": attempt.error,
                    "outbox_id": delivery.id,
                    "attempt": delivery.attempt,
                    "idempotency_key": delivery.idempotency_key,
                    "duration_ms": attempt.duration_ms,
                    "outcome": outcome,
                },
            )
        m = self.metrics
        m.webhook_attempts_total.labels(outcome=outcome).inc()
        if status == "delivered":
            m.webhook_deliveries_total.inc()
        elif status == "failed":
            m.webhook_failures_total.inc()
            logger.warning(
                "webhook to %s for %s failed for good after %d attempt(s): %s",
                delivery.url,
                delivery.coin_id,
                delivery.attempt,
                attempt.error,
            )
        else:
            m.webhook_retries_total.inc()
            logger.info(
                "webhook to %s for %s: %s; retry at %s",
                delivery.url,
                delivery.coin_id,
                attempt.error,
                retry_at,
            )

    async def refresh_gauges(self) -> None:
        async with self.pool.acquire() as conn:
            stats = await webhooks_repo.outbox_stats(conn)
        self.metrics.webhook_outbox_depth.set(stats.get("open") or 0)
        oldest = stats.get("oldest_open")
        self.metrics.webhook_oldest_pending_seconds.set(
            (datetime.now(UTC) - oldest).total_seconds() if oldest else 0
        )
