"""Connection loss, a missing trigger, and several replicas sharing one database."""

from __future__ import annotations

from pathlib import Path

from ml_prediction_service.service import Service
from tests.support.metrics import coin_rows, insert_metrics
from tests.support.models import TrainedFile
from tests.support.settings import service_settings
from tests.support.wait import eventually
from tests.support.world import World, count_predictions, import_models


async def test_listener_terminated_server_side_reconnects(
    world: World, trained: dict[str, TrainedFile]
) -> None:
    await import_models(world, trained)
    listener = world.service.listener

    async def listening_pids() -> list[int]:
        rows = await world.pool.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()"
        )
        return [r[0] for r in rows]

    assert await eventually(lambda: listener.connected)
    before = await eventually(listening_pids)
    assert before
    await world.pool.execute("SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) pid", before)

    async def reconnected() -> bool:
        pids = await listening_pids()
        return bool(pids) and not set(pids) & set(before) and listener.connected

    assert await eventually(reconnected, seconds=15)
    await insert_metrics(world.pool, coin_rows("AFTER", 8, seed=3))

    async def done() -> bool:
        return await count_predictions(world.pool, "coin_id = 'AFTER'") == 2

    assert await eventually(done)
    metrics = (await world.api.get("/metrics")).text
    assert 'ml_errors_total{type="db"}' in metrics


async def test_disabled_trigger_falls_back_to_polling(
    world: World, trained: dict[str, TrainedFile]
) -> None:
    await import_models(world, trained)
    await world.pool.execute("ALTER TABLE coin_metrics DISABLE TRIGGER coin_metrics_insert_trigger")
    await world.service.trigger.check_once()
    # rows timestamped now-ish, as a live collector writes them
    start = (await world.pool.fetchval("SELECT now()")).replace(microsecond=0)
    rows = coin_rows("POLLED", 8, seed=5, start=start)
    await insert_metrics(world.pool, rows)
    assert await world.pool.fetchval("SELECT count(*) FROM prediction_events") == 0

    async def done() -> bool:
        return await count_predictions(world.pool, "coin_id = 'POLLED'") == 2

    assert await eventually(done, seconds=15)
    assert world.service.poller.active
    health = (await world.api.get("/api/health")).json()
    assert health["status"] == "degraded"
    assert any("disabled" in r for r in health["reasons"])
    assert health["use_listen_notify"] is False


async def test_two_replicas_share_the_work_without_duplicates(
    world: World, trained: dict[str, TrainedFile], tmp_path: Path
) -> None:
    await import_models(world, trained)
    replica = await Service.start(
        service_settings(tmp_path, training_url=world.training_url, batch_size=7), world.db_dsn
    )
    try:
        coins = [f"R{i:02d}" for i in range(30)]
        history = [r for i, c in enumerate(coins) for r in coin_rows(c, 6, seed=i)]
        await insert_metrics(world.pool, history)
        # then single-row inserts, one coin at a time, as a live collector does
        for step in range(3):
            for i, coin in enumerate(coins):
                row = coin_rows(coin, 7 + step, seed=i)[-1]
                await insert_metrics(world.pool, [row])

        async def drained() -> bool:
            pending = await world.pool.fetchval("SELECT count(*) FROM prediction_events")
            return pending == 0 and (
                world.service.events_processed + replica.events_processed
                == len(history) + 3 * len(coins)
            )

        assert await eventually(drained, seconds=30)
        # every event processed exactly once, by one replica or the other
        assert world.service.events_processed > 0 and replica.events_processed > 0
        # and every coin's newest snapshot has a prediction from both models
        dupes = await world.pool.fetchval(
            "SELECT count(*) FROM (SELECT 1 FROM predictions GROUP BY active_model_id, coin_id, "
            "data_timestamp HAVING count(*) > 1) d"
        )
        assert dupes == 0
        latest_ok = await world.pool.fetchval(
            """
            SELECT count(*) FROM (
              SELECT m.mint FROM coin_metrics m
               WHERE m."timestamp" = (SELECT max("timestamp") FROM coin_metrics x
                                       WHERE x.mint = m.mint)
                 AND (SELECT count(*) FROM predictions p WHERE p.coin_id = m.mint
                         AND p.data_timestamp = m."timestamp") = 2) ok
            """
        )
        assert latest_ok == len(coins)
    finally:
        await replica.stop()
