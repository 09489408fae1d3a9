"""The evaluator's claim (``evaluations_repo.claim_due``): the coins of the oldest due rows,
each with all its due rows, oldest coin first, at most the limit; rows not due yet stay;
a second replica gets other rows while the first holds its claim."""

from __future__ import annotations

from datetime import timedelta

import asyncpg

from ml_prediction_service.db import evaluations_repo
from tests.support.metrics import T0


async def _queue(pool: asyncpg.Pool, rows: list[tuple[str, int, int]]) -> None:
    """Due rows (coin, data timestamp in seconds after T0, check time in seconds from now)."""
    await pool.executemany(
        "INSERT INTO prediction_evaluation_due "
        "(coin_id, data_timestamp, future_minutes, horizon_at, check_at) "
        "VALUES ($1, $2::timestamptz, 10, $2::timestamptz + interval '10 minutes', "
        "now() + make_interval(secs => $3))",
        [(coin, T0 + timedelta(seconds=at), float(check)) for coin, at, check in rows],
    )


def _names(due: list[evaluations_repo.Due]) -> list[tuple[str, int]]:
    return [(d.coin_id, int((d.data_timestamp - T0).total_seconds())) for d in due]


async def test_a_coins_due_rows_come_together_oldest_coin_first(pool: asyncpg.Pool) -> None:
    await _queue(
        pool,
        [
            ("A", 0, -100),
            ("B", 10, -90),
            ("C", 20, -80),
            ("A", 50, -50),
            ("A", 90, -10),
            ("B", 95, -5),
            ("A", 200, 100),  # not due yet
            ("D", 0, 100),
        ],
    )
    async with pool.acquire() as first, first.transaction():
        due, now = await evaluations_repo.claim_due(first, 4)
        assert now is not None
        # A's three due rows together (its fourth is not due), then B's oldest: the limit
        assert _names(due) == [("A", 0), ("A", 50), ("A", 90), ("B", 10)]
        async with pool.acquire() as second, second.transaction():
            other, _ = await evaluations_repo.claim_due(second, 10)
            # what the first holds is skipped, and C's row too: it was among the first's
            # oldest rows (locked), cut off by its limit, and waits for the next batch
            assert _names(other) == [("B", 95)]
    async with pool.acquire() as conn, conn.transaction():
        again, _ = await evaluations_repo.claim_due(conn, 10)  # both rolled back
        assert len(again) == 6
        assert await evaluations_repo.claim_due(conn, 0) == ([], None)
