"""Queries of the polling fallback: new coin_metrics rows by a persisted watermark, turned
into the same durable events the trigger writes."""

from __future__ import annotations

from datetime import datetime

import asyncpg

POLL_LOCK_KEY = 7_331_003

READ_NEW_ROWS = """
SELECT mint, "timestamp", phase_id_at_time
  FROM coin_metrics
 WHERE "timestamp" > $1
 ORDER BY "timestamp"
 LIMIT $2
"""

QUEUE_EVENTS = """
INSERT INTO prediction_events (mint, data_timestamp, phase_id, created_at)
SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::int[], $4::timestamptz[])
"""

WATERMARK = "SELECT watermark FROM prediction_poll_state WHERE consumer = $1"

SAVE_WATERMARK = """
INSERT INTO prediction_poll_state (consumer, watermark) VALUES ($1, $2)
ON CONFLICT (consumer) DO UPDATE SET watermark = EXCLUDED.watermark, updated_at = now()
"""


async def try_lock(conn: asyncpg.Connection) -> bool:
    """The polling lock for this transaction (only one replica polls at a time)."""
    return bool(await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", POLL_LOCK_KEY))


async def watermark(conn: asyncpg.Connection, consumer: str) -> datetime | None:
    value: datetime | None = await conn.fetchval(WATERMARK, consumer)
    return value


async def save_watermark(conn: asyncpg.Connection, consumer: str, value: datetime) -> None:
    await conn.execute(SAVE_WATERMARK, consumer, value)


async def new_rows(conn: asyncpg.Connection, after: datetime, limit: int) -> list[asyncpg.Record]:
    return list(await conn.fetch(READ_NEW_ROWS, after, limit))


async def queue_events(conn: asyncpg.Connection, rows: list[asyncpg.Record]) -> None:
    """Durable events for these coin_metrics rows (received = the row's timestamp, the best
    estimate of when it arrived)."""
    await conn.execute(
        QUEUE_EVENTS,
        [r["mint"] for r in rows],
        [r["timestamp"] for r in rows],
        [r["phase_id_at_time"] for r in rows],
        [r["timestamp"] for r in rows],
    )
