"""Queries for the webhook outbox and log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from ml_prediction_service.db.filters import where_clause
from ml_prediction_service.db.pool import Executor

ENQUEUE = """
INSERT INTO prediction_webhook_outbox (coin_id, data_timestamp, webhook_url, payload,
                                       idempotency_key)
SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::jsonb[], $5::text[])
ON CONFLICT (idempotency_key) DO NOTHING
"""

# The oldest open delivery of each (coin, url), if it is due: later ones wait, so each
# coin's deliveries arrive in order. Claimed with a lease: a replica that dies mid-send
# gives the delivery back when the lease runs out.
CLAIM_DUE = """
WITH heads AS (
    SELECT DISTINCT ON (coin_id, webhook_url) id
      FROM prediction_webhook_outbox
     WHERE status IN ('pending', 'sending')
     ORDER BY coin_id, webhook_url, id
), due AS (
    SELECT o.id
      FROM prediction_webhook_outbox o
      JOIN heads h ON h.id = o.id
     WHERE (o.status = 'pending' AND o.next_attempt_at <= now())
        OR (o.status = 'sending' AND o.lease_until < now())
     ORDER BY o.id
     LIMIT $1
       FOR UPDATE OF o SKIP LOCKED
)
UPDATE prediction_webhook_outbox o
   SET status = 'sending',
       attempts = o.attempts + 1,
       lease_until = now() + make_interval(secs => $2)
  FROM due
 WHERE o.id = due.id
RETURNING o.id, o.coin_id, o.data_timestamp, o.webhook_url, o.payload, o.idempotency_key,
          o.attempts, o.created_at
"""

FINISH = """
UPDATE prediction_webhook_outbox
   SET status = $2::varchar, last_status = $3, last_error = $4, lease_until = NULL,
       next_attempt_at = COALESCE($5, next_attempt_at),
       delivered_at = CASE WHEN $2::varchar = 'delivered' THEN now() ELSE delivered_at END
 WHERE id = $1
"""

LOG_ATTEMPT = """
INSERT INTO prediction_webhook_log (coin_id, data_timestamp, webhook_url, payload,
    response_status, response_body, error_message, outbox_id, attempt, idempotency_key,
    duration_ms, outcome)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
"""

OUTBOX_STATS = """
SELECT count(*) FILTER (WHERE status IN ('pending', 'sending')) AS open,
       min(created_at) FILTER (WHERE status IN ('pending', 'sending')) AS oldest_open,
       count(*) FILTER (WHERE status = 'failed') AS failed,
       count(*) FILTER (WHERE status = 'delivered') AS delivered
  FROM prediction_webhook_outbox
"""


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    coin_id: str
    data_timestamp: datetime
    url: str
    payload: dict[str, Any]
    idempotency_key: str
    attempt: int
    created_at: datetime


async def enqueue(
    conn: asyncpg.Connection,
    rows: list[tuple[str, datetime, str, dict[str, Any], str]],
) -> None:
    if not rows:
        return
    await conn.execute(ENQUEUE, *(list(col) for col in zip(*rows, strict=True)))


async def claim_due(conn: asyncpg.Connection, limit: int, lease_seconds: float) -> list[Delivery]:
    rows = await conn.fetch(CLAIM_DUE, limit, lease_seconds)
    return [
        Delivery(
            r["id"],
            r["coin_id"],
            r["data_timestamp"],
            r["webhook_url"],
            r["payload"],
            r["idempotency_key"],
            r["attempts"],
            r["created_at"],
        )
        for r in rows
    ]


async def finish(
    conn: asyncpg.Connection,
    delivery_id: int,
    status: str,
    http_status: int | None,
    error: str | None,
    next_attempt_at: datetime | None,
) -> None:
    await conn.execute(FINISH, delivery_id, status, http_status, error, next_attempt_at)


async def log_attempt(conn: asyncpg.Connection, values: dict[str, Any]) -> None:
    await conn.execute(
        LOG_ATTEMPT,
        values["coin_id"],
        values["data_timestamp"],
        values["webhook_url"],
        values["payload"],
        values.get("response_status"),
        values.get("response_body"),
        values.get("error_message"),
        values.get("outbox_id"),
        values.get("attempt"),
        values.get("idempotency_key"),
        values.get("duration_ms"),
        values.get("outcome"),
    )


async def outbox_stats(conn: Executor) -> dict[str, Any]:
    row = await conn.fetchrow(OUTBOX_STATS)
    return dict(row) if row is not None else {}


@dataclass(frozen=True)
class LogFilter:
    coin_id: str | None = None
    outcome: str | None = None
    response_status: int | None = None
    outbox_id: int | None = None
    since: datetime | None = None

    def where(self) -> tuple[str, list[Any]]:
        return where_clause(
            (
                ("coin_id", "=", self.coin_id),
                ("outcome", "=", self.outcome),
                ("response_status", "=", self.response_status),
                ("outbox_id", "=", self.outbox_id),
                ("created_at", ">=", self.since),
            )
        )


async def list_log(
    conn: Executor, flt: LogFilter, *, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    where, args = flt.where()
    total = await conn.fetchval(f"SELECT count(*) FROM prediction_webhook_log{where}", *args)
    rows = await conn.fetch(
        f"SELECT id, coin_id, data_timestamp, webhook_url, payload, response_status, "
        f"response_body, error_message, outbox_id, attempt, idempotency_key, duration_ms, "
        f"outcome, created_at FROM prediction_webhook_log{where} "
        f"ORDER BY id DESC LIMIT ${len(args) + 1} OFFSET ${len(args) + 2}",
        *args,
        limit,
        offset,
    )
    return [dict(r) for r in rows], int(total)
