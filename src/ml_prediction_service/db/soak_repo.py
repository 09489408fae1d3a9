"""What the soak run reads from the database once per sample (``bench/soak.py``): one
window's commit→prediction latencies and webhook lag, the rows inserted, the size of the
database and of each table (a partitioned table with all its partitions)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from ml_prediction_service.db.partitions import DETACHED_MARK

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

# Every table of the schema that is not itself a partition, with the leaf partitions under
# it (a plain table: itself), read from the catalogs alone: no relation is locked here. A
# partition the keeper detached and has not dropped yet (its comment names the parent: $1 is
# partitions.DETACHED_MARK) still counts for its parent's table.
# (pg_partition_tree and pg_total_relation_size lock every relation they touch until the
# statement ends: pg_partition_tree locked a table's partitions, pg_total_relation_size of
# the parent then waited for the keeper's DETACH, which held the parent and wanted one of
# those partitions, and a soak died of the deadlock.)
TABLES = """
WITH RECURSIVE tree AS (
    SELECT c.oid AS root, c.oid AS rel, c.relkind
      FROM pg_class c
      JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition
    UNION ALL
    SELECT t.root, i.inhrelid, k.relkind
      FROM tree t
      JOIN pg_inherits i ON i.inhparent = t.rel
      JOIN pg_class k ON k.oid = i.inhrelid
)
SELECT COALESCE(substr(d.description, length($1) + 1), r.relname) AS name,
       bool_or(r.relkind = 'p') AS partitioned,
       array_agg(t.rel::bigint) FILTER (WHERE t.relkind <> 'p') AS leaves
  FROM tree t
  JOIN pg_class r ON r.oid = t.root
  LEFT JOIN pg_description d
         ON d.objoid = r.oid AND d.classoid = 'pg_class'::regclass AND d.objsubid = 0
        AND starts_with(d.description, $1)
 GROUP BY 1
"""

# One relation's total size (heap, TOAST, indexes); NULL once it was dropped. One statement
# per relation, so the probe never holds one lock while waiting for another.
RELATION_SIZE = "SELECT pg_total_relation_size($1::bigint::oid)"


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
    """Every table of the schema, biggest first (partitions summed into their table; one
    dropped meanwhile counts 0)."""
    sizes = []
    for row in await conn.fetch(TABLES, DETACHED_MARK):
        leaves = row["leaves"] or []
        total = 0
        for rel in leaves:
            total += int(await conn.fetchval(RELATION_SIZE, rel) or 0)
        sizes.append(TableSize(row["name"], total, len(leaves) if row["partitioned"] else 0))
    return sorted(sizes, key=lambda t: (-t.bytes, t.name))
