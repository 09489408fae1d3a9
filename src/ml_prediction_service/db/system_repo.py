"""Queries behind health and stats (service-owned tables only), and session/server settings."""

from __future__ import annotations

from typing import Any

import asyncpg

COUNT_ACTIVE_MODELS = "SELECT count(*) FROM prediction_active_models WHERE is_active"

PREDICTIONS_LAST_HOUR = """
SELECT count(*) FROM predictions WHERE created_at > now() - interval '1 hour'
"""

STATS = """
SELECT
    (SELECT count(*) FROM predictions) AS total_predictions,
    (SELECT count(*) FROM predictions
      WHERE created_at > now() - interval '1 hour') AS predictions_last_hour,
    (SELECT count(*) FROM prediction_active_models WHERE is_active) AS active_models,
    (SELECT count(DISTINCT coin_id) FROM predictions
      WHERE created_at > now() - interval '1 hour') AS coins_tracked,
    (SELECT avg(prediction_duration_ms)::float8 FROM predictions
      WHERE created_at > now() - interval '1 hour') AS avg_prediction_time_ms
"""


async def health_counts(conn: asyncpg.Connection) -> tuple[int, int]:
    """(active models, predictions in the last hour)."""
    active = await conn.fetchval(COUNT_ACTIVE_MODELS)
    last_hour = await conn.fetchval(PREDICTIONS_LAST_HOUR)
    return int(active), int(last_hour)


async def stats(conn: asyncpg.Connection) -> dict[str, Any]:
    row = await conn.fetchrow(STATS)
    return dict(row) if row is not None else {}


async def commit_asynchronously(conn: asyncpg.Connection) -> None:
    """This session commits without waiting for the WAL flush (``synchronous_commit=off``):
    a row is visible as soon as its commit is recorded."""
    await conn.execute("SET synchronous_commit = off")


async def track_commit_timestamps(conn: asyncpg.Connection) -> None:
    """Record commit timestamps (``track_commit_timestamp``; takes effect after a restart)."""
    await conn.execute("ALTER SYSTEM SET track_commit_timestamp = on")
