"""The outbox's state rules, statement by statement, on a real PostgreSQL.

What the sender and the worker rely on when they race: a coin's older snapshot is never
sent after a newer one is queued, a finished attempt only changes a row still leased for
it, and shutdown or re-send requests never leave two sendable snapshots of one coin.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg

from ml_prediction_service.db import webhooks_repo as repo
from ml_prediction_service.db.webhooks_repo import Delivery, Finished

URL = "http://127.0.0.1:9/hook"
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _row(coin: str, seconds: int) -> tuple[str, datetime, str, dict[str, object], str]:
    stamp = T0 + timedelta(seconds=seconds)
    return coin, stamp, URL, {"coin_id": coin, "timestamp": stamp.isoformat()}, f"{coin}-{seconds}"


async def _statuses(pool: asyncpg.Pool) -> dict[str, str]:
    rows = await pool.fetch("SELECT idempotency_key, status FROM prediction_webhook_outbox")
    return {r["idempotency_key"]: r["status"] for r in rows}


def _finished(d: Delivery, status: str, *, attempt: int | None = None) -> Finished:
    now = datetime.now(UTC)
    retry_at = now if status == "pending" else None
    if attempt is not None:
        d = Delivery(
            d.id,
            d.coin_id,
            d.data_timestamp,
            d.url,
            d.body,
            d.idempotency_key,
            attempt,
            d.aged_from,
            d.created_at,
        )
    code = 200 if status == "delivered" else 503
    return Finished(d, status, code, None, None, retry_at, now, 1)


async def test_queueing_a_newer_snapshot_supersedes_the_pending_one(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        assert await repo.enqueue(conn, [_row("A", 5), _row("B", 5)]) == 0
        assert await repo.enqueue(conn, [_row("A", 10)]) == 1
        # an older snapshot arriving late supersedes nothing and is itself never claimed
        assert await repo.enqueue(conn, [_row("A", 7)]) == 0
        claimed = await repo.claim_due(conn, 10, 30, 300)
    assert sorted(d.idempotency_key for d in claimed) == ["A-10", "B-5"]
    assert (await _statuses(pool))["A-5"] == "superseded"
    assert claimed[0].body.startswith(b"{")  # the stored text, sent as it is


async def test_nothing_of_a_coin_is_claimed_while_one_is_in_flight(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await repo.enqueue(conn, [_row("A", 5)])
        [first] = await repo.claim_due(conn, 10, 30, 300)
        await repo.enqueue(conn, [_row("A", 10)])
        assert await repo.claim_due(conn, 10, 30, 300) == []  # order: A-5 is in flight
        await repo.finish_many(conn, [_finished(first, "delivered")])
        [second] = await repo.claim_due(conn, 10, 30, 300)
    assert second.idempotency_key == "A-10"


async def test_a_retry_behind_a_newer_snapshot_is_superseded(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await repo.enqueue(conn, [_row("A", 5)])
        [first] = await repo.claim_due(conn, 10, 30, 300)
        await repo.enqueue(conn, [_row("A", 10)])  # queued while A-5 was in flight
        assert await repo.finish_many(conn, [_finished(first, "pending")]) == 1
        claimed = await repo.claim_due(conn, 10, 30, 300)
        log = await conn.fetchval("SELECT count(*) FROM prediction_webhook_log")
    assert [d.idempotency_key for d in claimed] == ["A-10"]
    assert (await _statuses(pool))["A-5"] == "superseded"
    assert log == 1  # the attempt itself is logged


async def test_a_finished_attempt_changes_only_a_row_still_leased_for_it(
    pool: asyncpg.Pool,
) -> None:
    async with pool.acquire() as conn:
        await repo.enqueue(conn, [_row("A", 5)])
        [d] = await repo.claim_due(conn, 10, 30, 300)
        # its lease ran out and another sender claimed it again (attempt 2)
        await conn.execute(
            "UPDATE prediction_webhook_outbox SET lease_until = now() - interval '1 second'"
        )
        await repo.maintain(conn, 300)
        [again] = await repo.claim_due(conn, 10, 30, 300)
        assert again.attempt == 2
        await repo.finish_many(conn, [_finished(d, "failed")])  # the first sender, late
        assert (await _statuses(pool))["A-5"] == "sending"
        await repo.finish_many(conn, [_finished(again, "delivered")])
    assert (await _statuses(pool))["A-5"] == "delivered"


async def test_a_released_attempt_behind_a_newer_snapshot_is_superseded(
    pool: asyncpg.Pool,
) -> None:
    async with pool.acquire() as conn:
        await repo.enqueue(conn, [_row("A", 5), _row("B", 5)])
        in_flight = await repo.claim_due(conn, 10, 30, 300)
        await repo.enqueue(conn, [_row("A", 10)])
        await repo.release(conn, [d.id for d in in_flight])  # a clean shutdown
        assert await _statuses(pool) == {"A-5": "superseded", "B-5": "pending", "A-10": "pending"}
        claimed = await repo.claim_due(conn, 10, 30, 300)
    assert sorted(c.idempotency_key for c in claimed) == ["A-10", "B-5"]
    assert {c.attempt for c in claimed} == {1}  # the cancelled attempt did not count


async def test_maintenance_closes_an_older_pending_snapshot_beside_a_newer_one(
    pool: asyncpg.Pool,
) -> None:
    async with pool.acquire() as conn:
        await repo.enqueue(conn, [_row("A", 5)])
        await repo.enqueue(conn, [_row("A", 10)])
        # an explicit re-send of the superseded one puts two pending snapshots side by side
        await repo.requeue(conn, ["superseded"])  # (the API offers failed and expired)
        claimed = await repo.claim_due(conn, 10, 30, 300)
        assert [c.idempotency_key for c in claimed] == ["A-10"]  # never the older one
        counts = await repo.maintain(conn, 300)
    assert counts["superseded"] == 1
    assert await _statuses(pool) == {"A-5": "superseded", "A-10": "sending"}


async def test_maintenance_keeps_each_coin_and_urls_newest_pending_snapshot(
    pool: asyncpg.Pool,
) -> None:
    """Three pending snapshots of A side by side: only the newest stays. B's only one, and
    A's snapshot for another URL, are no older snapshot of anything."""
    other = ("A", T0, "http://127.0.0.1:9/other", {"coin_id": "A"}, "A-other")
    async with pool.acquire() as conn:
        for seconds in (5, 10, 15):
            await repo.enqueue(conn, [_row("A", seconds)])
        await repo.enqueue(conn, [_row("B", 5), other])
        await repo.requeue(conn, ["superseded"])
        assert set((await _statuses(pool)).values()) == {"pending"}
        counts = await repo.maintain(conn, 300)
    assert counts == {"superseded": 2, "released": 0, "expired": 0}
    assert await _statuses(pool) == {
        "A-5": "superseded",
        "A-10": "superseded",
        "A-15": "pending",
        "B-5": "pending",
        "A-other": "pending",
    }


async def test_old_pending_deliveries_expire_and_lost_leases_come_back(
    pool: asyncpg.Pool,
) -> None:
    async with pool.acquire() as conn:
        await repo.enqueue(conn, [_row("OLD", 5), _row("LOST", 5)])
        await conn.execute(
            "UPDATE prediction_webhook_outbox SET created_at = now() - '10 min'::interval "
            "WHERE coin_id = 'OLD'"
        )
        [lost] = await repo.claim_due(conn, 10, 30, 300)
        assert lost.coin_id == "LOST"  # OLD is past the max age: not claimed
        await conn.execute(
            "UPDATE prediction_webhook_outbox SET lease_until = now() - interval '1 second' "
            "WHERE coin_id = 'LOST'"
        )
        counts = await repo.maintain(conn, 300)
    assert counts == {"superseded": 0, "released": 1, "expired": 1}
    assert await _statuses(pool) == {"OLD-5": "expired", "LOST-5": "pending"}


async def test_open_stats_count_pending_and_sending_and_find_the_oldest_of_both(
    pool: asyncpg.Pool,
) -> None:
    async with pool.acquire() as conn:
        assert await repo.open_stats(conn) == (0, None)
        await repo.enqueue(conn, [_row("A", 5)])
        [sending] = await repo.claim_due(conn, 10, 30, 300)
        await repo.enqueue(conn, [_row("B", 5), _row("C", 5)])
        await conn.execute(
            "UPDATE prediction_webhook_outbox SET created_at = created_at - interval '1 minute' "
            "WHERE idempotency_key = 'A-5'"
        )
        a_created = await conn.fetchval(
            "SELECT created_at FROM prediction_webhook_outbox WHERE idempotency_key = 'A-5'"
        )
        # the oldest open one is in flight
        assert await repo.open_stats(conn) == (3, a_created)
        await repo.finish_many(conn, [_finished(sending, "delivered")])
        pending_oldest = await conn.fetchval(
            "SELECT min(created_at) FROM prediction_webhook_outbox WHERE status = 'pending'"
        )
        assert await repo.open_stats(conn) == (2, pending_oldest)
