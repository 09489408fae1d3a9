"""What the soak run reads from the database once per sample (``bench/soak.py``): one
window's commit→prediction latencies and webhook lag, the rows inserted, the size of the
database and of each table (a partitioned table with all its partitions)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

# Commit of the coin_metrics row → commit of its prediction, for the events stamped inside
# the window (the collector's --stamp insert: stamp = insert time), one model's rows: every
# model's prediction of an event is written by the same transaction, so one model gives
# every event's latency once. data_timestamp prunes the partitions.
WINDOW_LATENCIES_MS = """
SELECT extract(epoch FROM pg_xact_commit_timestamp(p.xmin)
                        - pg_xact_commit_timestamp(m.xmin)) * 1000 AS ms
  FROM predictions p
  JOIN coin_metrics m ON m.mint = p.coin_id AND m."timestamp" = p.data_timestamp
 WHERE p.active_model_id = $1
   AND p.data_timestamp >= $2 AND p.data_timestamp < $3
   AND p.event_received_at IS NOT NULL
"""

# Deliveries that got their 2xx inside the window: written (the prediction's transaction)
# → delivered. $3 (the window's start minus the longest a delivery lives) prunes partitions.
WINDOW_WEBHOOK_LAG = """
SELECT count(*) AS delivered,
       percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP (
           ORDER BY extract(epoch FROM delivered_at - created_at) * 1000) AS lag_ms
  FROM prediction_webhook_outbox
 WHERE status = 'delivered' AND delivered_at >= $1 AND delivered_at < $2
   AND data_timestamp >= $3
"""

WINDOW_ROWS = """
SELECT count(*) FROM coin_metrics WHERE "timestamp" >= $1 AND "timestamp" < $2
"""

# Every table of the schema that is not itself a partition: its total size (heap, TOAST,
# indexes), a partitioned table summed over all its partitions, and how many it has.
TABLE_SIZES = """
SELECT c.relname AS name,
       CASE WHEN c.relkind = 'p'
            THEN (SELECT coalesce(sum(pg_total_relation_size(t.relid)), 0)
                    FROM pg_partition_tree(c.oid) t)
            ELSE pg_total_relation_size(c.oid) END::bigint AS bytes,
       CASE WHEN c.relkind = 'p'
            THEN (SELECT count(*) FROM pg_partition_tree(c.oid) t WHERE t.isleaf)
            ELSE 0 END::int AS partitions
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition
 ORDER BY bytes DESC, name
"""


@dataclass(frozen=True)
class TableSize:
    name: str
    bytes: int
    partitions: int  # leaf partitions (DEFAULT included); 0: a plain table


async def window_latencies_ms(
    conn: asyncpg.Connection, active_model_id: int, since: datetime, until: datetime
) -> list[float]:
    """Commit→prediction latency (ms) of every event stamped in ``[since, until)`` that has
    a prediction of ``active_model_id`` (unordered)."""
    rows = await conn.fetch(WINDOW_LATENCIES_MS, active_model_id, since, until)
    return [float(r["ms"]) for r in rows if r["ms"] is not None]


async def window_webhook_lag(
    conn: asyncpg.Connection, since: datetime, until: datetime, oldest: datetime
) -> tuple[int, float | None, float | None]:
    """Deliveries with their 2xx in ``[since, until)`` (of rows stamped after ``oldest``):
    count, lag p50 and p99 (ms; None without any)."""
    row = await conn.fetchrow(WINDOW_WEBHOOK_LAG, since, until, oldest)
    assert row is not None
    lag = row["lag_ms"]
    return int(row["delivered"]), (lag[0] if lag else None), (lag[1] if lag else None)


async def window_rows(conn: asyncpg.Connection, since: datetime, until: datetime) -> int:
    """coin_metrics rows stamped in ``[since, until)``."""
    return int(await conn.fetchval(WINDOW_ROWS, since, until))


async def database_size(conn: asyncpg.Connection) -> int:
    """``pg_database_size`` of the current database (bytes)."""
    return int(await conn.fetchval("SELECT pg_database_size(current_database())"))


async def table_sizes(conn: asyncpg.Connection) -> list[TableSize]:
    """Every table of the schema, biggest first (partitions summed into their table)."""
    return [
        TableSize(r["name"], int(r["bytes"]), int(r["partitions"]))
        for r in await conn.fetch(TABLE_SIZES)
    ]
