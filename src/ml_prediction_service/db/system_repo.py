"""Queries behind health and stats (service-owned tables only), and session/server settings."""

from __future__ import annotations

from typing import Any

import asyncpg

from ml_prediction_service.db.pool import Executor

# "The last hour" is by data_timestamp, the partition key: the newest partitions only, and an
# index-only scan of idx_predictions_ts (migration 0023). For live predictions it is the same
# hour as created_at's; a backlog worked off after downtime counts by the coins' time.
PREDICTIONS_LAST_HOUR = """
SELECT count(*) FROM predictions WHERE data_timestamp > now() - interval '1 hour'
"""

STATS = """
SELECT
    (SELECT count(*) FROM predictions) AS total_predictions,
    (SELECT count(*) FROM predictions
      WHERE data_timestamp > now() - interval '1 hour') AS predictions_last_hour,
    (SELECT count(*) FROM prediction_active_models WHERE is_active) AS active_models,
    (SELECT count(DISTINCT coin_id) FROM predictions
      WHERE data_timestamp > now() - interval '1 hour') AS coins_tracked,
    (SELECT avg(prediction_duration_ms)::float8 FROM predictions
      WHERE data_timestamp > now() - interval '1 hour') AS avg_prediction_time_ms
"""


async def predictions_last_hour(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval(PREDICTIONS_LAST_HOUR))


async def stats(conn: Executor) -> dict[str, Any]:
    row = await conn.fetchrow(STATS)
    return dict(row) if row is not None else {}


async def commit_asynchronously(conn: asyncpg.Connection) -> None:
    """This session commits without waiting for the WAL flush (``synchronous_commit=off``):
    a row is visible as soon as its commit is recorded."""
    await conn.execute("SET synchronous_commit = off")


async def track_commit_timestamps(conn: asyncpg.Connection) -> None:
    """Record commit timestamps (``track_commit_timestamp``; takes effect after a restart)."""
    await conn.execute("ALTER SYSTEM SET track_commit_timestamp = on")


async def load_statement_stats(conn: asyncpg.Connection) -> None:
    """Load ``pg_stat_statements`` at the next start (benchmarks' ``--sql-profile``)."""
    await conn.execute("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")


async def reset_statement_stats(conn: asyncpg.Connection) -> None:
    """Create ``pg_stat_statements`` in this database (loaded at start) and zero it."""
    await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    await conn.execute("SELECT pg_stat_statements_reset()")


STATEMENT_TOTALS = """
SELECT s.queryid, regexp_replace(s.query, '\\s+', ' ', 'g') AS query, s.calls,
       s.total_exec_time AS total_ms, s.rows, s.wal_bytes::bigint AS wal_bytes
  FROM pg_stat_statements s
 WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
"""


async def statement_totals(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    """Every statement's totals so far (the soak subtracts two of these per window)."""
    return [dict(r) for r in await conn.fetch(STATEMENT_TOTALS)]


async def top_statements(conn: asyncpg.Connection, limit: int) -> list[dict[str, Any]]:
    """The statements that took most server time since :func:`reset_statement_stats`."""
    found = await statement_totals(conn)
    return sorted(found, key=lambda r: r["total_ms"], reverse=True)[:limit]
