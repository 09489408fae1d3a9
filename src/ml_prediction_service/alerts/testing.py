"""``POST /api/models/{id}/webhook-test``: send a sample payload now and report the answer.

The URL is the one routing computes for the model (its own, else ``N8N_WEBHOOK_URL``), sent
to even when the model's webhook is disabled (the answer says so), with the sender's client.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import aiohttp
import asyncpg

from ml_prediction_service.alerts.delivery import encode, post
from ml_prediction_service.alerts.payload import OutgoingPrediction, build_payload
from ml_prediction_service.alerts.routing import configured_url
from ml_prediction_service.config import Settings
from ml_prediction_service.db import webhooks_repo
from ml_prediction_service.errors import ServiceError
from ml_prediction_service.models.metadata import ActiveModelRecord

TEST_COIN = "TEST_COIN_ml_prediction_service"


async def send_test(
    pool: asyncpg.Pool,
    client: aiohttp.ClientSession,
    settings: Settings,
    model: ActiveModelRecord,
) -> dict[str, Any]:
    url = configured_url(model, settings.n8n_webhook_url)
    if not url:
        raise ServiceError(
            "no webhook URL: set N8N_WEBHOOK_URL or this model's webhook_url",
            code="no_webhook_url",
            status=409,
        )
    threshold = model.alert_threshold
    now = datetime.now(UTC)
    payload = build_payload(
        TEST_COIN,
        now,
        [OutgoingPrediction(model, 1, max(threshold, 0.99), True, threshold, "alert")],
        test=True,
    )
    key = f"test-{uuid.uuid4().hex}"
    attempt = await post(
        client,
        url,
        encode(payload),
        idempotency_key=key,
        secret=settings.n8n_webhook_secret,
        request_timeout=settings.n8n_webhook_timeout,
    )
    async with pool.acquire() as conn:
        await webhooks_repo.log_attempt(
            conn,
            {
                "coin_id": TEST_COIN,
                "data_timestamp": now,
                "webhook_url": url,
                "payload": payload,
                "response_status": attempt.status,
                "response_body": attempt.body,
                "error_message": attempt.error,
                "attempt": 1,
                "idempotency_key": key,
                "duration_ms": attempt.duration_ms,
                "outcome": "test",
            },
        )
    return {
        "url": url,
        "webhook_enabled": model.webhook_enabled,
        "ok": attempt.ok,
        "status_code": attempt.status,
        "response_body": attempt.body,
        "error": attempt.error,
        "duration_ms": attempt.duration_ms,
        "payload": payload,
    }
