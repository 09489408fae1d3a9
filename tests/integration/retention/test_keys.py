"""Unique keys and idempotent writes across partitions, and lookups by id."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ml_prediction_service.db import predictions_repo, webhooks_repo
from ml_prediction_service.db.predictions_repo import PredictionBatch
from tests.integration.retention.conftest import INTERVAL, MinutesDb
from tests.support.retention import add_model, add_prediction, where_is
from tests.support.world import World


def _batch(coins: list[str], stamps: list[datetime], active: int) -> PredictionBatch:
    n = len(coins)
    return PredictionBatch(
        coin_ids=coins,
        data_timestamps=stamps,
        phase_ids=[1] * n,
        received_at=[None] * n,
        stale=[False] * n,
        model_ids=[1],
        active_model_ids=[active],
        thresholds=[0.7],
        coin=list(range(n)),
        model=[0] * n,
        probability=[0.8] * n,
        prediction=[1] * n,
        is_alert=[True] * n,
        tag=[2] * n,
        suppressed=[False] * n,
        duration_ms=3,
    )


async def test_the_same_predictions_twice_are_stored_once_in_every_partition(
    minutes_db: MinutesDb,
) -> None:
    db, t0 = minutes_db, minutes_db.t0
    active = await add_model(db.pool)
    # one in each of two ranges, one in the DEFAULT partition (long ago)
    stamps = [
        t0 + timedelta(minutes=1),
        t0 + INTERVAL + timedelta(minutes=1),
        t0 - timedelta(days=9),
    ]
    coins = ["A", "B", "C"]
    async with db.pool.acquire() as conn:
        first = await predictions_repo.insert_batch(conn, _batch(coins, stamps, active), [active])
        second = await predictions_repo.insert_batch(conn, _batch(coins, stamps, active), [active])
    assert first.new_per_model == {active: 3}
    assert second.new_per_model == {}
    rows = await db.pool.fetch(
        "SELECT tableoid::regclass::text AS part, count(*) AS n FROM predictions GROUP BY 1"
    )
    assert {r["part"]: r["n"] for r in rows} == {
        "predictions_default": 1,
        f"predictions_p{t0:%Y%m%d_%H%M}": 1,
        f"predictions_p{t0 + INTERVAL:%Y%m%d_%H%M}": 1,
    }


async def test_an_outbox_delivery_is_queued_once_across_partitions(minutes_db: MinutesDb) -> None:
    db, t0 = minutes_db, minutes_db.t0
    url = "http://127.0.0.1:9/hook"
    rows = [
        ("A", t0 + timedelta(minutes=1), url, {"n": 1}, "key-a"),
        ("B", t0 + INTERVAL + timedelta(minutes=1), url, {"n": 2}, "key-b"),
        ("C", t0 - timedelta(days=9), url, {"n": 3}, "key-c"),
    ]
    async with db.pool.acquire() as conn:
        await webhooks_repo.enqueue(conn, rows)
        await webhooks_repo.enqueue(conn, rows)
    stored = await db.pool.fetch(
        "SELECT idempotency_key, tableoid::regclass::text AS part FROM prediction_webhook_outbox"
    )
    assert sorted(r["idempotency_key"] for r in stored) == ["key-a", "key-b", "key-c"]
    assert len({r["part"] for r in stored}) == 3
    # the key is unique with the data timestamp, as the idempotency key itself is made from it
    keys = await db.pool.fetchval(
        "SELECT pg_get_indexdef(indexrelid) FROM pg_index "
        "WHERE indrelid = 'prediction_webhook_outbox'::regclass AND indisunique "
        "AND NOT indisprimary"
    )
    assert "(idempotency_key, data_timestamp)" in keys


async def test_a_prediction_is_found_by_id_in_any_partition_with_an_index(
    minutes_db: MinutesDb,
) -> None:
    db, t0 = minutes_db, minutes_db.t0
    active = await add_model(db.pool)
    ids = [
        await add_prediction(db.pool, active, "A", t0 + timedelta(minutes=2)),
        await add_prediction(db.pool, active, "B", t0 + INTERVAL * 2),
        await add_prediction(db.pool, active, "C", t0 - timedelta(days=30)),
    ]
    for pid in ids:
        row = await predictions_repo.get_prediction(db.pool, pid)
        assert row is not None and row["id"] == pid
    assert {await where_is(db.pool, "predictions", i) for i in ids} == {
        f"predictions_p{t0:%Y%m%d_%H%M}",
        f"predictions_p{t0 + INTERVAL * 2:%Y%m%d_%H%M}",
        "predictions_default",
    }
    plan = "\n".join(
        r[0]
        for r in await db.pool.fetch(
            "EXPLAIN (COSTS OFF) SELECT * FROM predictions p WHERE p.id = $1", ids[0]
        )
    )
    assert "Seq Scan" not in plan, plan
    assert plan.count("Index") >= 5, plan  # one probe per partition, by the primary key


async def test_the_api_finds_predictions_by_id_in_the_partitioned_table(world: World) -> None:
    active = await add_model(world.pool, model_id=77)
    now = datetime.now(UTC)
    ids = [
        await add_prediction(world.pool, active, "NOW", now, model_id=77),
        await add_prediction(world.pool, active, "OLD", now - timedelta(days=40), model_id=77),
    ]
    for pid in ids:
        resp = await world.api.get(f"/api/predictions/{pid}")
        assert resp.status_code == 200, resp.text
        assert resp.json()["id"] == pid
    missing = await world.api.get(f"/api/predictions/{max(ids) + 1000}")
    assert missing.status_code == 404
