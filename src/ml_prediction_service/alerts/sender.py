"""The webhook sender: delivers the outbox, off the prediction path.

A continuous round: claim due deliveries for the free request slots (one statement), post
them concurrently over kept-alive connections (at most ``WEBHOOK_CONCURRENCY`` in flight),
and record every finished attempt of the round in one transaction (outbox states in one
statement, log rows in another).

Per (coin, URL) only the newest snapshot is sent (a new one supersedes an unsent older one
when it is queued) and nothing is sent while an earlier one is in flight, so a coin's
webhooks arrive in order. Once a second, deliveries whose lease ran out are given back and
pending ones past the max age are closed as expired. Network errors, 404 (an inactive n8n
workflow), 408, 425, 429 and 5xx are retried with exponential backoff and jitter (Retry-After
honoured) until the delivery is ``WEBHOOK_MAX_AGE_SECONDS`` old (or after
``WEBHOOK_MAX_ATTEMPTS``, if set); other 4xx fail at once. At-least-once: every POST carries
an ``Idempotency-Key`` so receivers can drop a repeat (e.g. after a crash mid-send).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime
from typing import Any

import aiohttp
import asyncpg

from ml_prediction_service.alerts.delivery import Attempt, new_session, next_attempt_at, post
from ml_prediction_service.alerts.testing import send_test
from ml_prediction_service.config import Settings
from ml_prediction_service.db import webhooks_repo
from ml_prediction_service.db.pool import DB_ERRORS
from ml_prediction_service.db.webhooks_repo import Delivery, Finished
from ml_prediction_service.errors import NotFoundError, ServiceError
from ml_prediction_service.models.metadata import ActiveModelRecord
from ml_prediction_service.observability.metrics import Metrics

logger = logging.getLogger(__name__)

GAUGE_INTERVAL_SECONDS = 1.0
LEASE_MARGIN_SECONDS = 5.0


class WebhookSender:
    def __init__(
        self, pool: asyncpg.Pool, settings: Settings, metrics: Metrics, wakeup: asyncio.Event
    ) -> None:
        self.pool = pool
        self.settings = settings
        self.metrics = metrics
        self.wakeup = wakeup
        self.concurrency = settings.webhook_concurrency
        self._client: aiohttp.ClientSession | None = None
        self._claiming: asyncio.Future[list[Delivery]] | None = None
        self.closing = False
        self.in_flight: dict[int, asyncio.Task[None]] = {}
        self.done: list[Finished] = []
        self.progress = asyncio.Event()
        self.oldest_pending_seconds = 0.0  # of the last gauge refresh (health reads it)
        self.backlog = 0
        self._gauges_at = 0.0

    async def close(self) -> None:
        """Stop sending: cancel what is in flight, record what finished, and give the
        cancelled deliveries back at once (not after their lease)."""
        self.closing = True
        unstarted: list[int] = []
        if self._claiming is not None:
            with contextlib.suppress(Exception):
                unstarted = [d.id for d in await asyncio.wait_for(self._claiming, 5)]
        tasks = list(self.in_flight.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        cancelled = list(self.in_flight) + [i for i in unstarted if i not in self.in_flight]
        self.in_flight.clear()
        with contextlib.suppress(*DB_ERRORS):
            async with asyncio.timeout(5), self.pool.acquire() as conn:
                await self._record(conn)
                if cancelled:
                    await webhooks_repo.release(conn, cancelled)
        if self._client is not None:
            await self._client.close()

    @property
    def client(self) -> aiohttp.ClientSession:
        """Kept-alive connections to the receivers (made on first use, inside the loop)."""
        if self._client is None:
            self._client = new_session(self.concurrency)
        return self._client

    async def send_test(self, model: ActiveModelRecord) -> dict[str, Any]:
        """A sample payload for ``model`` now, with this sender's client (logged as a test)."""
        return await send_test(self.pool, self.client, self.settings, model)

    async def requeue(
        self,
        statuses: list[str],
        *,
        delivery_id: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[int]:
        """Re-open failed/expired deliveries (due now; their age restarts) and wake up."""
        if since is not None and until is not None and since > until:
            raise ServiceError("'from' must not be after 'to'", code="validation_error", status=422)
        ids = await webhooks_repo.requeue(
            self.pool, statuses, delivery_id=delivery_id, since=since, until=until
        )
        if delivery_id is not None and not ids:
            raise NotFoundError(
                f"no failed or expired delivery with id {delivery_id} (only those can be re-sent)"
            )
        self.wakeup.set()
        return ids

    # -- the round --------------------------------------------------------------------
    async def run(self) -> None:
        while True:
            claimed, asked = await self.step()
            if asked and claimed == asked:
                continue  # every free slot got one: more may be due
            waiters = [asyncio.ensure_future(self.wakeup.wait())]
            waiters.append(asyncio.ensure_future(self.progress.wait()))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.webhook_poll_seconds):
                    await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()
            self.wakeup.clear()
            self.progress.clear()

    async def step(self) -> tuple[int, int]:
        """Record what finished, claim for the free slots, refresh the gauges now and then.
        Returns (claimed, slots asked for)."""
        free = self.concurrency - len(self.in_flight)
        # claim in groups while requests are in flight (one statement per quarter of the
        # slots, not per finished request); at once when idle
        asked = free if (free >= max(1, self.concurrency // 4) or not self.in_flight) else 0
        async with self.pool.acquire() as conn:
            if self.done:
                async with conn.transaction():
                    await self._record(conn)
            if time.monotonic() - self._gauges_at >= GAUGE_INTERVAL_SECONDS:
                await self._maintain(conn)
        claimed: list[Delivery] = []
        if asked:
            # shielded: a claim that the database made is never lost to a cancellation
            # between its commit and the start of its requests (close() waits for it)
            self._claiming = asyncio.ensure_future(self._claim(asked))
            claimed = await asyncio.shield(self._claiming)
            self._claiming = None
        return len(claimed), asked

    async def _claim(self, asked: int) -> list[Delivery]:
        async with self.pool.acquire() as conn:
            claimed = await webhooks_repo.claim_due(
                conn,
                asked,
                self.settings.n8n_webhook_timeout + LEASE_MARGIN_SECONDS,
                self.settings.webhook_max_age_seconds,
            )
        if not self.closing:
            for delivery in claimed:
                self.in_flight[delivery.id] = asyncio.create_task(self._attempt(delivery))
        return claimed

    async def _attempt(self, delivery: Delivery) -> None:
        attempt = await post(
            self.client,
            delivery.url,
            delivery.body,
            idempotency_key=delivery.idempotency_key,
            secret=self.settings.n8n_webhook_secret,
            request_timeout=self.settings.n8n_webhook_timeout,
        )
        self.done.append(self._decide(delivery, attempt))
        self.in_flight.pop(delivery.id, None)
        self.progress.set()

    def _decide(self, delivery: Delivery, attempt: Attempt) -> Finished:
        now = datetime.now(UTC)
        status, retry_at = "pending", None
        if attempt.ok:
            status = "delivered"
        else:
            age = (now - delivery.aged_from).total_seconds()
            limit = self.settings.webhook_max_attempts
            if (
                not attempt.retryable
                or (limit and delivery.attempt >= limit)
                or age >= self.settings.webhook_max_age_seconds
            ):
                status = "failed"
            else:
                retry_at = next_attempt_at(
                    delivery.attempt,
                    attempt,
                    base=self.settings.webhook_retry_base_seconds,
                    cap=self.settings.webhook_retry_max_seconds,
                )
        return Finished(
            delivery,
            status,
            attempt.status,
            attempt.error,
            attempt.body,
            retry_at,
            now,
            attempt.duration_ms,
        )

    async def _record(self, conn: asyncpg.Connection) -> None:
        done, self.done = self.done, []
        if not done:
            return
        try:
            superseded = await webhooks_repo.finish_many(conn, done)
        except BaseException:
            self.done = done + self.done  # recorded with the next round
            raise
        m = self.metrics
        if superseded:
            m.webhook_closed_total.labels(status="superseded").inc(superseded)
        for f in done:
            m.webhook_attempts_total.labels(outcome=f.outcome).inc()
            if f.status == "delivered":
                m.webhook_deliveries_total.inc()
                m.webhook_closed_total.labels(status="delivered").inc()
                lag = (f.finished_at - f.delivery.created_at).total_seconds()
                m.webhook_delivery_lag_seconds.observe(max(0.0, lag))
            elif f.status == "failed":
                m.webhook_failures_total.inc()
                m.webhook_closed_total.labels(status="failed").inc()
                logger.warning(
                    "webhook to %s for %s failed for good after %d attempt(s): %s",
                    f.delivery.url,
                    f.delivery.coin_id,
                    f.delivery.attempt,
                    f.error,
                )
            else:
                m.webhook_retries_total.inc()
                logger.info(
                    "webhook to %s for %s: %s; retry at %s",
                    f.delivery.url,
                    f.delivery.coin_id,
                    f.error,
                    f.retry_at,
                )

    async def _maintain(self, conn: asyncpg.Connection) -> None:
        """Lost leases back, old deliveries expired, gauges refreshed (every second)."""
        counts = await webhooks_repo.maintain(conn, self.settings.webhook_max_age_seconds)
        for status in ("superseded", "expired"):
            if counts[status]:
                self.metrics.webhook_closed_total.labels(status=status).inc(counts[status])
        self.backlog, oldest = await webhooks_repo.open_stats(conn)
        self._gauges_at = time.monotonic()
        self.oldest_pending_seconds = (
            (datetime.now(UTC) - oldest).total_seconds() if oldest else 0.0
        )
        self.metrics.webhook_outbox_depth.set(self.backlog)
        self.metrics.webhook_oldest_pending_seconds.set(self.oldest_pending_seconds)
