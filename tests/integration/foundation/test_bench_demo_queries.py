"""The repository functions behind the benchmark's and the demo's numbers."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from ml_prediction_service.db import events_repo, metrics_repo, predictions_repo, system_repo
from ml_prediction_service.db.schema import install_coin_metrics_trigger
from tests.support.coin_metrics import MINIMAL_COIN_METRICS


async def test_counts_newest_sample_and_latency(pool: asyncpg.Pool) -> None:
    await pool.execute(MINIMAL_COIN_METRICS)
    async with pool.acquire() as conn:
        assert (await install_coin_metrics_trigger(conn)).installed
        assert await metrics_repo.count(conn) == 0
        assert await metrics_repo.newest_timestamp(conn) is None
        await conn.execute(
            """
            INSERT INTO coin_metrics (mint, "timestamp", phase_id_at_time, price_close)
            VALUES ('A', '2026-01-01T00:00:00Z', 1, 1e-8),
                   ('B', '2026-01-01T00:00:05Z', 2, 2e-8),
                   ('A', '2026-01-01T00:00:10Z', NULL, 3e-8)
            """
        )
        assert await metrics_repo.count(conn) == 3
        assert await metrics_repo.newest_timestamp(conn) == datetime(
            2026, 1, 1, 0, 0, 10, tzinfo=UTC
        )
        sample = await metrics_repo.random_snapshots(conn, 2)
        assert len(sample) == 2 and {m for m, _ in sample} <= {"A", "B"}
        assert len(await metrics_repo.random_snapshots(conn, 10)) == 3
        # the trigger's events: counted up to the cap, the oldest exact at any cap
        oldest = await conn.fetchval("SELECT min(created_at) FROM prediction_events")
        assert await events_repo.pending(conn) == (3, oldest)
        assert await events_repo.pending(conn, cap=2) == (2, oldest)
        assert await events_repo.pending(conn, cap=None) == (3, oldest)
        assert await events_repo.any_pending(conn)
        await conn.execute("DELETE FROM prediction_events")
        assert await events_repo.pending(conn) == (0, None)
        assert not await events_repo.any_pending(conn)
        assert await predictions_repo.count(conn) == 0
        assert await predictions_repo.commit_latency_ms(conn) == (None, None, None)


async def test_asynchronous_commit_is_per_session(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await system_repo.commit_asynchronously(conn)
        assert await conn.fetchval("SHOW synchronous_commit") == "off"
        await conn.execute("RESET synchronous_commit")
