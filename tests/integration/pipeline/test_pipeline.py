"""Rows in → predictions out, through the real trigger, NOTIFY, worker and models."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest

from ml_prediction_service.bench.soak_probe import parse_metrics, total
from ml_prediction_service.pipeline.worker import required_depth
from tests.support.expected import expected_probability
from tests.support.metrics import T0, coin_rows, insert_metrics, newest
from tests.support.models import TrainedFile
from tests.support.wait import eventually
from tests.support.world import World, count_predictions, import_models, make_world


async def test_rows_in_predictions_out_equal_to_training_features(
    world: World, trained: dict[str, TrainedFile]
) -> None:
    models = await import_models(world, trained)
    # history in one statement, then the newest snapshot of three coins in another
    coins = {f"COIN{i}": coin_rows(f"COIN{i}", 40, seed=i) for i in range(3)}
    await insert_metrics(world.pool, [r for rows in coins.values() for r in rows[:-1]])
    await insert_metrics(world.pool, [rows[-1] for rows in coins.values()])

    last = await world.pool.fetchval('SELECT max("timestamp") FROM coin_metrics')
    assert last == T0 + timedelta(seconds=5 * 39)

    async def done() -> bool:
        n = await count_predictions(world.pool, "data_timestamp = $1", last)
        return n == len(coins) * len(models)

    assert await eventually(done), await world.pool.fetch("SELECT * FROM predictions")
    for model in models:
        input_columns = world.service.registry.models[model["id"]].loaded.input_columns  # type: ignore[union-attr]
        for mint in coins:
            row = await world.pool.fetchrow(
                "SELECT probability, prediction, is_alert, is_stale FROM predictions "
                "WHERE coin_id=$1 AND active_model_id=$2 AND data_timestamp=$3",
                mint,
                model["id"],
                last,
            )
            assert row is not None
            expected = await expected_probability(
                world.pool, mint, last, Path(model["local_model_path"]), input_columns
            )
            assert row["probability"] == pytest.approx(round(expected, 4), abs=1e-4)
            assert row["prediction"] == int(expected > 0.5)
            assert row["is_alert"] == (expected >= model["alert_threshold"])
    # counters and metrics follow
    active = (await world.api.get("/api/models/active")).json()["models"]
    assert all(m["total_predictions"] >= len(coins) for m in active)
    assert all(m["last_prediction_at"] for m in active)
    metrics = (await world.api.get("/metrics")).text
    assert "ml_predictions_total{" in metrics and "ml_coins_tracked 3.0" in metrics
    arrays = sum(w.cache.nbytes for w in world.service.workers)
    shown = total(parse_metrics(metrics), "ml_coin_cache_bytes")
    assert arrays > 0 and shown == arrays


async def test_every_snapshot_of_a_stream_is_exact(
    world: World, trained: dict[str, TrainedFile]
) -> None:
    """Incremental state (cache) vs a fresh full read: each snapshot equals training."""
    models = await import_models(world, trained)
    rows = coin_rows("STREAM", 30, seed=7)
    rows[12]["price_close"] = None  # not part of the history at all
    rows[15]["volatility_pct"] = None
    rows[16]["dev_sold_amount"] = None
    for row in rows[:20]:
        await insert_metrics(world.pool, [row])
        await asyncio.sleep(0.02)
    for i in range(20, 30, 3):
        await insert_metrics(world.pool, rows[i : i + 3])

    async def done() -> bool:
        n = await count_predictions(
            world.pool, "coin_id = 'STREAM' AND data_timestamp = $1", newest(rows)
        )
        return n == len(models)

    assert await eventually(done)
    preds = await world.pool.fetch(
        "SELECT data_timestamp, active_model_id, probability FROM predictions "
        "WHERE coin_id = 'STREAM' ORDER BY data_timestamp"
    )
    assert len(preds) >= 10
    by_id = {m["id"]: m for m in models}
    for p in preds:
        model = by_id[p["active_model_id"]]
        loaded = world.service.registry.models[model["id"]].loaded
        assert loaded is not None
        expected = await expected_probability(
            world.pool,
            "STREAM",
            p["data_timestamp"],
            Path(model["local_model_path"]),
            loaded.input_columns,
        )
        assert p["probability"] == pytest.approx(round(expected, 4), abs=1e-4), p
    # the row with NULL price_close is no snapshot to predict
    null_ts = await world.pool.fetchval(
        "SELECT \"timestamp\" FROM coin_metrics WHERE price_close IS NULL AND mint = 'STREAM'"
    )
    assert await count_predictions(world.pool, "data_timestamp = $1", null_ts) == 0


async def test_history_store_keeps_feature_history_size_rows_per_coin(
    db_dsn: str,
    pool: asyncpg.Pool,
    training_url: str,
    tmp_path: Path,
    trained: dict[str, TrainedFile],
) -> None:
    """The per-coin store is max(what the models need, FEATURE_HISTORY_SIZE) rows deep."""
    async with make_world(db_dsn, pool, training_url, tmp_path, feature_history_size=40) as world:
        models = await import_models(world, trained)
        assert required_depth(world.service.registry.active()) < 40
        rows = coin_rows("DEEP", 50, seed=3)
        await insert_metrics(world.pool, rows[:-1])
        await insert_metrics(world.pool, rows[-1:])

        async def done() -> bool:
            n = await count_predictions(world.pool, "data_timestamp = $1", newest(rows))
            return n == len(models)

        assert await eventually(done)
        depths = {w.cache.depth for w in world.service.workers if len(w.cache)}
        assert depths == {40}
        for model in models:
            loaded = world.service.registry.models[model["id"]].loaded
            assert loaded is not None
            expected = await expected_probability(
                world.pool,
                "DEEP",
                newest(rows),
                Path(model["local_model_path"]),
                loaded.input_columns,
            )
            probability = await world.pool.fetchval(
                "SELECT probability FROM predictions WHERE coin_id = 'DEEP' "
                "AND active_model_id = $1 AND data_timestamp = $2",
                model["id"],
                newest(rows),
            )
            assert probability == pytest.approx(round(expected, 4), abs=1e-4)


async def test_phase_filter_and_too_little_history(
    world: World, trained: dict[str, TrainedFile]
) -> None:
    rf, xgb = await import_models(world, trained, rf_phases=[1], xgb_phases=[2, 3])
    await insert_metrics(world.pool, coin_rows("BABY", 10, phase=1, seed=1))
    await insert_metrics(world.pool, coin_rows("TEEN", 10, phase=2, seed=2))
    await insert_metrics(world.pool, coin_rows("NEWBORN", 3, phase=1, seed=3))

    async def done() -> bool:
        return await count_predictions(world.pool) >= 2

    assert await eventually(done)
    await asyncio.sleep(0.5)
    got = {
        (r["coin_id"], r["active_model_id"])
        for r in await world.pool.fetch("SELECT coin_id, active_model_id FROM predictions")
    }
    assert got == {("BABY", rf["id"]), ("TEEN", xgb["id"])}
    metrics = (await world.api.get("/metrics")).text
    assert 'ml_predictions_skipped_total{reason="too_little_history"}' in metrics


async def test_quiet_stream_lost_notification_is_processed_by_timer(
    world: World, trained: dict[str, TrainedFile]
) -> None:
    await import_models(world, trained)
    rows = coin_rows("QUIET", 8, seed=4)
    # rows and the durable event, but no NOTIFY at all: the timer must pick it up
    async with world.pool.acquire() as conn:
        await conn.execute("ALTER TABLE coin_metrics DISABLE TRIGGER coin_metrics_insert_trigger")
        await insert_metrics(conn, rows)
        await conn.execute(
            "INSERT INTO prediction_events (mint, data_timestamp, phase_id) VALUES ($1, $2, 1)",
            "QUIET",
            newest(rows),
        )
    timeout = world.service.settings.batch_timeout_seconds
    loop = asyncio.get_running_loop()
    started = loop.time()

    async def done() -> bool:
        return await count_predictions(world.pool, "coin_id = 'QUIET'") == 2

    assert await eventually(done, seconds=timeout + 5)
    # well before the 30 s polling interval: the batch timer fired
    assert loop.time() - started <= timeout + 3.0


async def test_reprocessing_never_duplicates(world: World, trained: dict[str, TrainedFile]) -> None:
    await import_models(world, trained)
    rows = coin_rows("DUP", 10, seed=5)
    await insert_metrics(world.pool, rows)
    last = newest(rows)

    async def done() -> bool:
        return await count_predictions(world.pool, "coin_id = 'DUP'") == 2

    assert await eventually(done)
    for _ in range(3):
        await world.pool.execute(
            "INSERT INTO prediction_events (mint, data_timestamp, phase_id) VALUES ('DUP', $1, 1)",
            last,
        )
    world.service.wakeup.set()

    async def drained() -> bool:
        return await world.pool.fetchval("SELECT count(*) FROM prediction_events") == 0

    assert await eventually(drained)
    assert await count_predictions(world.pool, "coin_id = 'DUP'") == 2


async def test_bad_values_and_bad_notifications_do_not_stop_the_pipeline(
    world: World, trained: dict[str, TrainedFile]
) -> None:
    models = await import_models(world, trained)
    rows = coin_rows("WEIRD", 12, seed=6)
    rows[5]["volatility_pct"] = float("nan")
    rows[6]["buy_pressure_ratio"] = float("nan")
    rows[7]["unique_signer_ratio"] = None
    rows[8]["num_buys"] = None
    # NUMERIC(p, s) columns cannot hold ±inf (PostgreSQL refuses it): NaN and NULL can occur
    rows[-1]["volatility_pct"] = float("nan")
    rows[-1]["net_volume_sol"] = None
    await world.pool.execute("SELECT pg_notify('coin_metrics_insert', 'not json at all')")
    await world.pool.execute("SELECT pg_notify('coin_metrics_insert', '{\"mint\": 5}')")
    await insert_metrics(world.pool, rows)

    async def done() -> bool:
        return await count_predictions(world.pool, "coin_id = 'WEIRD'") == len(models)

    assert await eventually(done)
    probs = [r[0] for r in await world.pool.fetch("SELECT probability FROM predictions")]
    assert all(0 <= p <= 1 for p in probs)
    metrics = (await world.api.get("/metrics")).text
    assert 'ml_errors_total{type="notify_payload"} 2.0' in metrics
    assert world.service.listener.malformed == 2
