"""One HTTP delivery of a webhook payload, and the retry decision for its outcome."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

SIGNATURE_HEADER = "X-Signature-SHA256"
IDEMPOTENCY_HEADER = "Idempotency-Key"
BODY_LOG_LIMIT = 2000
RETRYABLE_4XX = frozenset({404, 408, 425, 429})


@dataclass(frozen=True, slots=True)
class Attempt:
    status: int | None
    body: str | None
    error: str | None
    duration_ms: int
    retry_after: float | None = None
    fatal: bool = False  # e.g. a URL that cannot be posted to at all: no retry

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def retryable(self) -> bool:
        """Network errors, 5xx, 404 (an n8n workflow that is not active), 408, 425 and 429
        are retried; other 4xx are not."""
        if self.fatal:
            return False
        if self.status is None:
            return True
        return self.status >= 500 or self.status in RETRYABLE_4XX


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


async def post(
    client: httpx.AsyncClient,
    url: str,
    payload: dict[str, Any],
    *,
    idempotency_key: str,
    secret: str,
    request_timeout: float,
) -> Attempt:
    body = encode(payload)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "ml-prediction-service",
        IDEMPOTENCY_HEADER: idempotency_key,
    }
    if secret:
        headers[SIGNATURE_HEADER] = sign(body, secret)
    started = time.perf_counter()
    try:
        response = await client.post(url, content=body, headers=headers, timeout=request_timeout)
    except httpx.TimeoutException:
        return Attempt(None, None, f"timed out after {request_timeout:g}s", _ms(started))
    except httpx.HTTPError as exc:
        return Attempt(None, None, f"{type(exc).__name__}: {exc}".rstrip(": "), _ms(started))
    except (httpx.InvalidURL, ValueError) as exc:
        reason = f"cannot post to {url!r}: {type(exc).__name__}: {exc}"
        return Attempt(None, None, reason, _ms(started), fatal=True)
    text = response.text[:BODY_LOG_LIMIT]
    error = None if response.is_success else f"HTTP {response.status_code}"
    return Attempt(
        response.status_code,
        text,
        error,
        _ms(started),
        retry_after=_retry_after(response.headers.get("retry-after")),
    )


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


def next_attempt_at(
    attempt_number: int,
    attempt: Attempt,
    *,
    base: float,
    cap: float,
    rng: random.Random | None = None,
) -> datetime:
    """Exponential backoff with full jitter; a Retry-After header wins when longer."""
    r = rng or random
    delay = r.uniform(0, min(cap, base * (2 ** (attempt_number - 1))))
    if attempt.retry_after is not None:
        delay = max(delay, min(attempt.retry_after, cap))
    return datetime.now(UTC) + timedelta(seconds=delay)
