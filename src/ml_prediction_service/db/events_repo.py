"""Durable events written by the coin_metrics trigger: claimed exactly once across replicas."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

# Claim-and-delete inside the caller's transaction: a replica that dies before COMMIT
# releases its rows to the others; SKIP LOCKED lets replicas share the queue.
CLAIM_EVENTS = """
DELETE FROM prediction_events
 WHERE id IN (
       SELECT id FROM prediction_events
        WHERE $2 = 1 OR mod(abs(hashtext(mint)), $2) = $3
        ORDER BY id
          FOR UPDATE SKIP LOCKED
        LIMIT $1)
RETURNING id, mint, data_timestamp, phase_id, created_at
"""

# The backlog is counted only up to a cap: after an outage it can hold millions of rows, and
# a full count(*) every HEALTH_CHECK_INTERVAL_SECONDS costs the database most when it is
# already behind (here about 40 ms per probe with ~100k events waiting) and, past the
# probe's 1.5 s deadline, would make health report the database lost. The oldest event comes
# from the created_at index (one entry read), so its age stays exact at any size.
PENDING_COUNT_CAP = 10_000
PENDING_EVENTS = """
SELECT (SELECT count(*) FROM (SELECT 1 FROM prediction_events LIMIT $1) AS capped),
       (SELECT min(created_at) FROM prediction_events)
"""
ANY_PENDING = "SELECT EXISTS (SELECT 1 FROM prediction_events)"


@dataclass(frozen=True, slots=True)
class Event:
    """One coin_metrics row to predict: the coin and the snapshot's timestamp."""

    id: int
    mint: str
    data_timestamp: datetime
    phase_id: int | None
    received_at: datetime


async def claim(
    conn: asyncpg.Connection, limit: int, partition: int = 0, partitions: int = 1
) -> list[Event]:
    """Up to ``limit`` events of this coin partition (a coin always maps to one partition,
    so a worker's per-coin cache sees all of that coin's events it can get)."""
    rows = await conn.fetch(CLAIM_EVENTS, limit, partitions, partition)
    events = [
        Event(r["id"], r["mint"], r["data_timestamp"], r["phase_id"], r["created_at"]) for r in rows
    ]
    events.sort(key=lambda e: e.id)
    return events


async def no_fsync_wait(conn: asyncpg.Connection) -> None:
    """This transaction commits without waiting for the WAL flush. Safe for a batch: if the
    database loses the transaction in a crash, it loses the event deletions with it, and the
    events are simply processed again."""
    await conn.execute("SET LOCAL synchronous_commit = off")


async def pending(
    conn: asyncpg.Connection, cap: int | None = PENDING_COUNT_CAP
) -> tuple[int, datetime | None]:
    """Events waiting (counted up to ``cap``: a count equal to ``cap`` means at least that
    many; ``None``: all, for a benchmark's record) and when the oldest was written."""
    row = await conn.fetchrow(PENDING_EVENTS, cap)
    assert row is not None
    return int(row[0]), row[1]


async def any_pending(conn: asyncpg.Connection) -> bool:
    """Whether any event waits (one index entry read, for loops that wait for a drain)."""
    return bool(await conn.fetchval(ANY_PENDING))
