"""The live outcome evaluator (evaluation/evaluator.py): due rows written with the
predictions, outcomes from the coin's rows after them, dead coins, catching up after
downtime, two replicas — real service, real database, real models."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest

from ml_prediction_service.evaluation.evaluator import Evaluator
from ml_prediction_service.evaluation.statistics import NOT_EVALUABLE
from tests.support.evaluations import (
    FLAT,
    MANUAL,
    UP,
    M,
    evaluation_of,
    own_evaluator,
    predicted,
    prediction_ids,
    then,
)
from tests.support.metrics import T0
from tests.support.models import TrainedFile
from tests.support.statistics_rows import import_model
from tests.support.wait import eventually
from tests.support.world import World, make_world


@pytest.fixture
async def manual(
    db_dsn: str, pool: asyncpg.Pool, training_url: str, tmp_path: Path
) -> AsyncIterator[World]:
    async with make_world(db_dsn, pool, training_url, tmp_path, **MANUAL) as w:
        yield w


async def test_outcomes_from_the_rows_after_the_prediction(
    manual: World, trained: dict[str, TrainedFile]
) -> None:
    world = manual
    assert "evaluator" in {t.get_name() for t in world.service.tasks}
    timed = await import_model(world, trained["rf"], "rf-time")
    rule = await import_model(
        world, trained["xgb"], "xgb-rule", model_type="xgboost", time_based=False
    )
    # the same history (seed): the same prediction for both coins; UP then rises +8 %, FLAT +1 %
    up = await predicted(world.pool, "UP", 2)
    flat = await predicted(world.pool, "FLAT", 2)

    # one due row per coin snapshot of the model with a horizon; none for the rule-based one
    due = await world.pool.fetch(
        "SELECT coin_id, data_timestamp, future_minutes, horizon_at, check_at "
        "FROM prediction_evaluation_due ORDER BY coin_id"
    )
    assert [(r["coin_id"], r["data_timestamp"], r["future_minutes"]) for r in due] == [
        ("FLAT", flat.timestamp, 10),
        ("UP", up.timestamp, 10),
    ]
    assert all(r["horizon_at"] == r["data_timestamp"] + 10 * M == r["check_at"] for r in due)

    ids = await prediction_ids(world.pool, up)
    pending = (await world.api.get(f"/api/predictions/{ids[timed['id']]}")).json()
    horizon = pending["evaluation"]["horizon_at"]
    assert pending["evaluation"] == {"result": "pending", "horizon_at": horizon}
    assert horizon.startswith((up.timestamp + 10 * M).isoformat()[:19])
    nowcast = (await world.api.get(f"/api/predictions/{ids[rule['id']]}")).json()["evaluation"]
    assert nowcast == {"result": "not_applicable", "horizon_at": None, "note": NOT_EVALUABLE}

    await then(world.pool, up, UP)
    await then(world.pool, flat, FLAT)
    await world.service.evaluator.run_round()

    up_eval = await evaluation_of(world.pool, ids[timed["id"]])
    flat_ids = await prediction_ids(world.pool, flat)
    flat_eval = await evaluation_of(world.pool, flat_ids[timed["id"]])
    assert up_eval is not None and flat_eval is not None
    assert up_eval["target_hit"] is True and flat_eval["target_hit"] is False
    assert up_eval["realised_change_pct"] == pytest.approx(8.0, abs=1e-6)
    assert up_eval["max_change_pct"] == pytest.approx(20.0, abs=1e-6)
    assert up_eval["max_at"] == up.timestamp + 2 * M
    assert up_eval["min_change_pct"] == pytest.approx(-3.0, abs=1e-6)
    assert up_eval["min_at"] == up.timestamp + 4 * M
    assert up_eval["end_timestamp"] == up.timestamp + 9 * M  # the newest row at or before
    assert up_eval["start_value"] == pytest.approx(up.price, rel=1e-9)
    assert flat_eval["realised_change_pct"] == pytest.approx(1.0, abs=1e-6)
    assert flat_eval["max_change_pct"] == pytest.approx(4.0, abs=1e-6)
    assert flat_eval["min_change_pct"] == pytest.approx(-1.0, abs=1e-6)
    # same prediction, opposite outcomes: one of the two came out right, the other wrong
    prediction = up_eval["prediction"]
    assert flat_eval["prediction"] == prediction
    assert up_eval["result"] == ("success" if prediction == 1 else "failed")
    assert flat_eval["result"] == ("failed" if prediction == 1 else "success")
    assert up_eval["note"] is None and up_eval["horizon_at"] == up.timestamp + 10 * M
    # the prediction's facts are copied
    stored = await world.pool.fetchrow("SELECT * FROM predictions WHERE id = $1", ids[timed["id"]])
    for column in ("coin_id", "data_timestamp", "model_id", "active_model_id", "prediction"):
        assert up_eval[column] == stored[column], column
    assert (up_eval["probability"], up_eval["is_alert"], up_eval["tag"]) == (
        stored["probability"],
        stored["is_alert"],
        stored["tag"],
    )
    assert (up_eval["target_variable"], up_eval["future_minutes"]) == ("price_close", 10)
    # the rule-based model's predictions are never stored as evaluations
    rule_rows = await world.pool.fetchval(
        "SELECT count(*) FROM prediction_evaluations WHERE active_model_id = $1", rule["id"]
    )
    assert rule_rows == 0
    # done: the due rows are gone, the detail shows the stored row
    left = await world.pool.fetchval(
        "SELECT count(*) FROM prediction_evaluation_due WHERE data_timestamp = $1", up.timestamp
    )
    assert left == 0
    done = (await world.api.get(f"/api/predictions/{ids[timed['id']]}")).json()["evaluation"]
    assert done["result"] == up_eval["result"] and done["target_hit"] is True
    assert done["realised_change_pct"] == pytest.approx(8.0, abs=1e-6)
    assert done["model_name"] == "rf-time"
    # counted once per result, by the one writer
    counter = world.service.metrics.evaluations_total
    assert counter.labels(result="success")._value.get() >= 1
    assert counter.labels(result="failed")._value.get() >= 1


async def test_a_dead_coin_waits_then_is_evaluated_from_its_last_row(
    manual: World, trained: dict[str, TrainedFile], tmp_path: Path
) -> None:
    world = manual
    timed = await import_model(world, trained["rf"], "rf-time")
    dead = await predicted(world.pool, "DEAD", 1)
    # two rows after the prediction, both before the horizon; nothing after it
    await then(world.pool, dead, ((2 * M, 1.3), (3 * M, 1.1)))
    pid = (await prediction_ids(world.pool, dead))[timed["id"]]

    # the collector may lag: while the dead-coin wait lasts, the row is checked again later
    waiting = own_evaluator(
        world.pool, tmp_path, evaluation_interval_seconds=0.05, evaluation_dead_coin_seconds=1e9
    )
    await waiting.run_round()
    assert await evaluation_of(world.pool, pid) is None
    row = await world.pool.fetchrow(
        "SELECT checks, check_at > horizon_at AS later FROM prediction_evaluation_due "
        "WHERE coin_id = 'DEAD' AND data_timestamp = $1",
        dead.timestamp,
    )
    assert row is not None and row["checks"] == 1 and row["later"]
    assert waiting.stats.rechecks >= 1

    # once the wait is over: evaluated from the coin's last row, with the note
    await asyncio.sleep(0.1)
    over = own_evaluator(world.pool, tmp_path, evaluation_dead_coin_seconds=0)
    await over.run_round()
    found = await evaluation_of(world.pool, pid)
    assert found is not None
    last = dead.timestamp + 3 * M
    assert found["end_timestamp"] == last
    assert found["realised_change_pct"] == pytest.approx(10.0, abs=1e-6)
    assert found["max_change_pct"] == pytest.approx(30.0, abs=1e-6)
    assert found["target_hit"] is True
    assert found["note"] == f"no rows after {last.isoformat()}: evaluated from the coin's last row"
    assert found["result"] in ("success", "failed")


async def test_due_rows_of_a_downtime_are_evaluated_when_the_evaluator_starts(
    db_dsn: str,
    pool: asyncpg.Pool,
    training_url: str,
    tmp_path: Path,
    trained: dict[str, TrainedFile],
) -> None:
    # first run: predictions and their later rows are stored, the evaluator does not get to them
    async with make_world(db_dsn, pool, training_url, tmp_path, **MANUAL) as first:
        timed = await import_model(first, trained["rf"], "rf-time")
        snaps = [await predicted(first.pool, f"C{k}", 1, seed=k) for k in range(3)]
        for snap in snaps:
            await then(first.pool, snap, UP)
        ids = [(await prediction_ids(first.pool, s))[timed["id"]] for s in snaps]
        due = await first.pool.fetchval("SELECT count(*) FROM prediction_evaluation_due")
        assert due >= 3
        assert await first.pool.fetchval("SELECT count(*) FROM prediction_evaluations") == 0
    # the service starts again with its evaluator running: it catches up by itself
    async with make_world(
        db_dsn, pool, training_url, tmp_path, evaluation_interval_seconds=0.2
    ) as second:

        async def caught_up() -> bool:
            return all([await evaluation_of(second.pool, i) is not None for i in ids])

        assert await eventually(caught_up, 20), "the evaluator did not catch up"
        for i in ids:
            found = await evaluation_of(second.pool, i)
            assert found is not None and found["target_hit"] is True
            assert found["realised_change_pct"] == pytest.approx(8.0, abs=1e-6)

        async def drained() -> bool:
            return await second.pool.fetchval("SELECT count(*) FROM prediction_evaluation_due") == 0

        assert await eventually(drained, 20)
        assert second.service.metrics.evaluation_backlog._value.get() == 0


async def test_two_replicas_never_evaluate_one_prediction_twice(
    manual: World, trained: dict[str, TrainedFile], db_dsn: str, tmp_path: Path
) -> None:
    world = manual
    await import_model(world, trained["rf"], "rf-time")
    await import_model(world, trained["xgb"], "xgb-time", model_type="xgboost")
    snaps = [
        await predicted(world.pool, f"R{k}", 2, seed=k, start=T0 + timedelta(hours=k))
        for k in range(12)
    ]
    for snap in snaps:
        await then(world.pool, snap, UP if snap.mint < "R6" else FLAT)
    # every snapshot (and the ones the later rows brought) stored and queued
    await asyncio.sleep(1.0)

    async def settled() -> bool:
        events = await world.pool.fetchval("SELECT count(*) FROM prediction_events")
        return events == 0

    assert await eventually(settled, 20)
    total = int(await world.pool.fetchval("SELECT count(*) FROM predictions"))
    assert total >= 2 * len(snaps)

    pools = [await asyncpg.create_pool(db_dsn, min_size=1, max_size=2) for _ in range(2)]
    try:
        replicas = [
            own_evaluator(p, tmp_path, evaluation_batch_size=2, evaluation_dead_coin_seconds=0)
            for p in pools
        ]

        async def work(evaluator: Evaluator) -> None:
            claimed = 1
            while claimed:  # batch after batch, the two replicas interleaved
                claimed = await evaluator.evaluate_once()

        await asyncio.gather(*(work(r) for r in replicas))
    finally:
        for p in pools:
            await p.close()
    stored = int(await world.pool.fetchval("SELECT count(*) FROM prediction_evaluations"))
    assert stored == total  # every prediction of a model with a horizon, once
    # each prediction was evaluated by exactly one replica: nothing was computed twice
    assert sum(r.stats.attempted for r in replicas) == total
    assert [r.stats.stored for r in replicas] == [r.stats.attempted for r in replicas]
    assert all(r.stats.attempted > 0 for r in replicas), "one replica did all the work"
    assert await world.pool.fetchval("SELECT count(*) FROM prediction_evaluation_due") == 0


async def test_pauses_between_batches_unless_behind(
    manual: World, trained: dict[str, TrainedFile], pool: asyncpg.Pool, tmp_path: Path
) -> None:
    """Paced while it keeps up (a pause of EVALUATION_PACE times the batch's time); at full
    speed while the oldest due row it claims has waited longer than
    EVALUATION_CATCH_UP_SECONDS."""
    world = manual
    await import_model(world, trained["rf"], "rf-time")
    fresh = await predicted(world.pool, "FRESH", 1)
    late = await predicted(world.pool, "LATE", 1, seed=3, start=T0 + timedelta(hours=1))
    set_due = "UPDATE prediction_evaluation_due SET check_at = now() - $2::interval "
    await world.pool.execute(set_due + "WHERE coin_id = $1", fresh.mint, timedelta(seconds=2))
    await world.pool.execute(set_due + "WHERE coin_id = $1", late.mint, timedelta(hours=1))
    evaluator = own_evaluator(
        pool,
        tmp_path,
        evaluation_batch_size=1,
        evaluation_pace=2.0,
        evaluation_catch_up_seconds=120,
        evaluation_dead_coin_seconds=0,
    )
    assert await evaluator.evaluate_once() == 1  # oldest first: LATE, an hour behind
    assert evaluator.lag_seconds >= 3600
    assert evaluator.pause_after(0.25) == 0.0
    assert await evaluator.evaluate_once() == 1  # FRESH, due two seconds ago
    assert 2 <= evaluator.lag_seconds < 120
    assert evaluator.pause_after(0.25) == 0.5
    assert await evaluator.evaluate_once() == 0
    assert evaluator.pause_after(0.25) == 0.5  # nothing due: not behind
    unpaced = own_evaluator(pool, tmp_path, evaluation_pace=0)
    assert unpaced.pause_after(0.25) == 0.0
