"""Replay before activation (docs/evaluation.md "Replay"): the same predictions as the live
pipeline over the same rows, the same outcomes as ``rules.evaluate``, the API and its bounds,
cancellation at shutdown, orphans at start-up."""

from __future__ import annotations

import math
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np
import pytest

from ml_prediction_service.db import metrics_repo
from ml_prediction_service.db.replays_repo import REPLAY_LOCK_CLASS
from ml_prediction_service.evaluation import rules
from ml_prediction_service.evaluation.replay import (
    ReplayConfig,
    predict_chunk,
    target_of,
    to_datetime,
)
from ml_prediction_service.pipeline.history import HistoryStore, Snapshot, assemble
from ml_prediction_service.pipeline.predictor import predict_batch
from ml_prediction_service.pipeline.worker import required_depth
from tests.support.metrics import T0, coin_rows, insert_metrics
from tests.support.models import TrainedFile
from tests.support.statistics_rows import import_model
from tests.support.wait import eventually
from tests.support.world import World, make_world

STEP = 60  # seconds between rows: the models' 10-minute horizon is 10 rows


def stream(n: int, start: datetime = T0) -> dict[str, list[dict[str, Any]]]:
    """Two coins of ``n`` rows, one a minute; one coin pumps (so some targets are hit), one
    row without price_close (no snapshot) and NULLs the features must handle."""
    coins = {
        m: coin_rows(m, n, start=start, step_seconds=STEP, seed=s)
        for m, s in (("RA", 11), ("RB", 12))
    }
    for i, row in enumerate(coins["RA"]):
        if 12 <= i < 18:
            for key in ("price_close", "price_high", "price_open", "price_low"):
                row[key] *= 1.5 ** (i - 11)
    coins["RB"][9]["price_close"] = None
    coins["RB"][14]["volatility_pct"] = None
    coins["RA"][20]["dev_sold_amount"] = None
    return coins


async def feed_live(world: World, coins: dict[str, list[dict[str, Any]]]) -> None:
    """One minute's rows of every coin per statement, each processed before the next: the
    live pipeline predicts every row."""
    n = len(next(iter(coins.values())))
    for i in range(n):
        await insert_metrics(world.pool, [rows[i] for rows in coins.values()])
        want = len(coins) * (i + 1)
        assert await eventually(lambda want=want: world.service.events_processed >= want)


async def replay(world: World, model_id: int, **body: Any) -> dict[str, Any]:
    resp = await world.api.post(f"/api/models/{model_id}/replay", json=body)
    assert resp.status_code == 202, resp.text
    started: dict[str, Any] = resp.json()

    async def ended() -> dict[str, Any] | None:
        got = (await world.api.get(f"/api/replays/{started['id']}")).json()
        return got if got["status"] in ("done", "failed", "cancelled") else None

    done = await eventually(ended, 60)
    assert done, f"replay {started['id']} did not end"
    result: dict[str, Any] = done
    return result


def _iso(ts: datetime) -> str:
    return ts.isoformat()


async def test_replay_equals_the_live_pipeline_and_the_rule(
    world: World, trained: dict[str, TrainedFile]
) -> None:
    rf = await import_model(world, trained["rf"], "rf-replay")
    xgb = await import_model(world, trained["xgb"], "xgb-replay", model_type="xgboost")
    for m in (rf, xgb):  # alerts at a threshold these small models reach
        resp = await world.api.patch(
            f"/api/models/{m['id']}/alert-threshold", json={"alert_threshold": 0.8}
        )
        assert resp.status_code == 200, resp.text
    coins = stream(40)
    await feed_live(world, coins)
    start, end = T0 + timedelta(minutes=5), T0 + timedelta(minutes=30)
    for model in (rf, xgb):
        done = await replay(world, model["id"], start=_iso(start), end=_iso(end))
        assert done["status"] == "done", done
        assert done["error"] is None
        replayed = await world.pool.fetch(
            "SELECT * FROM prediction_replay_evaluations WHERE replay_id = $1 "
            "ORDER BY coin_id, data_timestamp",
            done["id"],
        )
        live = await world.pool.fetch(
            "SELECT coin_id, data_timestamp, probability, prediction, is_alert FROM predictions "
            "WHERE active_model_id = $1 AND data_timestamp BETWEEN $2 AND $3 "
            "ORDER BY coin_id, data_timestamp",
            model["id"],
            start,
            end,
        )
        keys = ("coin_id", "data_timestamp", "probability", "prediction", "is_alert")
        assert [tuple(r[k] for k in keys) for r in replayed] == [tuple(r) for r in live]
        assert len(live) == 2 * 26 - 1  # every row of the range but RB's row without a price
        assert any(r["is_alert"] for r in live) and not all(r["is_alert"] for r in live)
        # the outcomes: rules.evaluate on the coin's rows up to the horizon
        now = await world.pool.fetchval("SELECT now()")
        target = target_of(world.service.registry.models[model["id"]])
        results = set()
        for mint in coins:
            rows = await world.pool.fetch(
                'SELECT "timestamp", price_close::float8 AS v FROM coin_metrics '
                'WHERE mint = $1 ORDER BY "timestamp"',
                mint,
            )
            stamps = [r["timestamp"] for r in rows]
            values = [r["v"] for r in rows]
            for got in (r for r in replayed if r["coin_id"] == mint):
                index = stamps.index(got["data_timestamp"])
                horizon = got["data_timestamp"] + timedelta(minutes=10)
                facts = rules.facts_from_rows(stamps, values, index, horizon)
                assert now > horizon + timedelta(minutes=10)  # long past: never pending
                want = rules.evaluate(facts, target, got["prediction"], horizon)
                assert got["horizon_at"] == horizon
                assert (got["start_value"], got["end_value"], got["end_timestamp"]) == (
                    facts.start_value,
                    facts.end_value,
                    facts.end_timestamp,
                )
                for key in ("result", "target_hit", "note", "max_at", "min_at"):
                    assert got[key] == getattr(want, key), (key, got)
                for key in ("realised_change_pct", "max_change_pct", "min_change_pct"):
                    assert got[key] == pytest.approx(getattr(want, key), rel=1e-12), (key, got)
                results.add(got["result"])
        assert {"success", "failed"} <= results
        stats = done["statistics"]
        assert stats["source"] == "replay" and stats["replay_id"] == done["id"]
        assert stats["evaluated"] + stats["not_applicable"] == len(replayed)
        assert done["predictions"]["total"] == len(replayed)
        assert done["predictions"]["alerts"] == sum(r["is_alert"] for r in live)
        assert done["progress"] == {
            "coins_done": 2,
            "coins_total": 2,
            "rows_done": 52,
            "rows_total": 52,
            "fraction": 1.0,
        }
    # nothing stored as a prediction, nothing queued to send
    assert await world.pool.fetchval("SELECT count(*) FROM predictions") == 2 * (36 + 35)
    listed = (await world.api.get(f"/api/models/{rf['id']}/replays")).json()["replays"]
    assert [r["status"] for r in listed] == ["done"]


async def test_replayed_probabilities_are_bit_for_bit_the_full_read_ones(
    world: World, trained: dict[str, TrainedFile]
) -> None:
    """The replay steps a history store through the rows; each probability equals the one
    the pipeline computes from the coin's whole history read as of that row (the
    ``POST /api/predict`` path), to the last bit."""
    model = await import_model(world, trained["xgb"], "xgb-bits", model_type="xgboost")
    coins = stream(30)
    await insert_metrics(world.pool, [r for rows in coins.values() for r in rows])
    active = world.service.registry.models[model["id"]]
    depth = max(required_depth([active]), world.service.settings.feature_history_size)
    mints = list(coins)
    async with world.pool.acquire() as conn:
        upper = T0 + timedelta(hours=1)
        coin_index, ts, values = await metrics_repo.fetch_histories(
            conn, mints, [None, None], [upper, upper]
        )
        config = ReplayConfig(depth, 5, 600, 10_000, 60)
        found = predict_chunk(
            active,
            mints,
            coin_index,
            ts,
            values,
            0,
            2**62,
            config,
            deadline=float("inf"),
            stop=threading.Event(),
        )
        assert len(found.rows) == 2 * 30 - 1 - 2 * 4  # MIN_HISTORY_ROWS 5: 4 rows each too few
        for row, raw in zip(found.rows.tolist(), found.raw.tolist(), strict=True):
            mint = mints[int(coin_index[row])]
            stamp = to_datetime(int(ts[row]))
            snap = Snapshot(mint, stamp, 1)
            ci, t, v = await metrics_repo.fetch_histories(conn, [mint], [None], [stamp])
            inputs = assemble(HistoryStore(1, depth), [snap], [None], ci, t, v, update_cache=False)
            outcome = predict_batch(inputs, [active], min_history_rows=5)
            assert outcome.results[0].decisions.raw.tolist() == [raw]
    assert not math.isnan(float(np.sum(found.raw)))


async def test_api_errors_are_json_and_actionable(
    world: World, trained: dict[str, TrainedFile]
) -> None:
    model = await import_model(world, trained["rf"], "rf-errors")
    await insert_metrics(world.pool, coin_rows("E1", 20, step_seconds=STEP))
    url = f"/api/models/{model['id']}/replay"
    t1 = T0 + timedelta(minutes=19)
    cases = [
        (f"/api/models/{model['id'] + 99}/replay", {"start": _iso(T0), "end": _iso(t1)}, 404),
        (url, {"start": _iso(t1), "end": _iso(T0)}, 422),
        (url, {"start": _iso(T0), "end": _iso(T0)}, 422),
        (url, {"start": _iso(T0), "end": _iso(t1), "max_rows": 2_000_001}, 422),
        (url, {"start": _iso(T0), "end": _iso(t1), "max_rows": 10}, 422),
        (url, {"start": _iso(T0), "end": _iso(t1), "max_rows": 0}, 422),
        (url, {"start": "yesterday", "end": _iso(t1)}, 422),
    ]
    for path, body, status in cases:
        resp = await world.api.post(path, json=body)
        assert resp.status_code == status, (body, resp.text)
        error = resp.json()
        assert error["code"] and error["detail"], error
    too_many = await world.api.post(url, json={"start": _iso(T0), "end": _iso(t1), "max_rows": 10})
    assert "holds 20 coin_metrics rows" in too_many.json()["detail"]
    assert "shorter range" in too_many.json()["detail"]
    over = await world.api.post(
        url, json={"start": _iso(T0), "end": _iso(t1), "max_rows": 2_000_001}
    )
    assert "REPLAY_MAX_ROWS" in over.json()["detail"]
    backwards = await world.api.post(url, json={"start": _iso(t1), "end": _iso(T0)})
    assert "end > start" in backwards.json()["detail"]
    for path in ("/api/replays/424242", f"/api/models/{model['id'] + 99}/replays"):
        resp = await world.api.get(path)
        assert resp.status_code == 404 and resp.json()["code"].endswith("not_found"), resp.text
    # accepted: 202 with the replay row
    resp = await world.api.post(url, json={"start": _iso(T0), "end": _iso(t1), "max_rows": 20})
    assert resp.status_code == 202, resp.text
    body = resp.json()
    assert body["status"] in ("pending", "running", "done")
    assert body["active_model_id"] == model["id"] and body["max_rows"] == 20
    assert body["progress"]["rows_total"] == 20 and body["progress"]["coins_total"] == 1


async def test_the_time_bound_fails_the_replay_with_a_clear_error(
    db_dsn: str,
    pool: asyncpg.Pool,
    training_url: str,
    tmp_path: Path,
    trained: dict[str, TrainedFile],
) -> None:
    async with make_world(db_dsn, pool, training_url, tmp_path, replay_max_seconds=1e-6) as world:
        model = await import_model(world, trained["rf"], "rf-slow")
        await insert_metrics(world.pool, coin_rows("S1", 20, step_seconds=STEP))
        done = await replay(
            world, model["id"], start=_iso(T0), end=_iso(T0 + timedelta(minutes=19))
        )
        assert done["status"] == "failed"
        assert "REPLAY_MAX_SECONDS" in done["error"] and "shorter range" in done["error"]
        assert done["statistics"] is None


async def test_a_rule_based_model_counts_predictions_but_evaluates_nothing(
    world: World, trained: dict[str, TrainedFile]
) -> None:
    model = await import_model(world, trained["rf"], "rf-rule", time_based=False)
    await insert_metrics(world.pool, coin_rows("R1", 20, step_seconds=STEP))
    done = await replay(world, model["id"], start=_iso(T0), end=_iso(T0 + timedelta(hours=1)))
    assert done["status"] == "done", done
    assert done["predictions"]["total"] == 16  # MIN_HISTORY_ROWS 5
    stats = done["statistics"]
    assert stats["evaluable"] is False and stats["evaluated"] == 0
    notes = await world.pool.fetch(
        "SELECT DISTINCT result, note FROM prediction_replay_evaluations WHERE replay_id = $1",
        done["id"],
    )
    assert [tuple(r) for r in notes] == [("not_applicable", stats["reason"])]


async def test_a_horizon_not_passed_yet_is_not_applicable_with_a_note(
    world: World, trained: dict[str, TrainedFile]
) -> None:
    """Rows of the last minutes: the live evaluator would still wait for their horizons."""
    model = await import_model(world, trained["rf"], "rf-recent")
    now = await world.pool.fetchval("SELECT now()")
    first = now - timedelta(minutes=30)
    await insert_metrics(world.pool, coin_rows("N1", 30, start=first, step_seconds=STEP))
    done = await replay(world, model["id"], start=_iso(first), end=_iso(now))
    assert done["status"] == "done", done
    rows = await world.pool.fetch(
        "SELECT data_timestamp, result, note FROM prediction_replay_evaluations "
        "WHERE replay_id = $1 ORDER BY data_timestamp",
        done["id"],
    )
    last = first + timedelta(minutes=29)
    for r in rows:
        waiting = r["data_timestamp"] + timedelta(minutes=10) >= last
        assert (r["result"] == "not_applicable" and "had not passed" in r["note"]) == waiting, r


async def test_shutdown_cancels_a_running_replay_and_one_more_is_refused(
    db_dsn: str,
    pool: asyncpg.Pool,
    training_url: str,
    tmp_path: Path,
    trained: dict[str, TrainedFile],
) -> None:
    async with pool.acquire() as blocker:
        async with make_world(
            db_dsn, pool, training_url, tmp_path, replay_max_concurrent=1
        ) as world:
            model = await import_model(world, trained["rf"], "rf-cancel")
            await insert_metrics(world.pool, coin_rows("C1", 20, step_seconds=STEP))
            # the replay's writes wait behind this lock: it is still running at shutdown
            tx = blocker.transaction()
            await tx.start()
            await blocker.execute("LOCK TABLE prediction_replay_evaluations IN EXCLUSIVE MODE")
            resp = await world.api.post(
                f"/api/models/{model['id']}/replay",
                json={"start": _iso(T0), "end": _iso(T0 + timedelta(minutes=19))},
            )
            assert resp.status_code == 202, resp.text
            replay_id = resp.json()["id"]

            async def waiting() -> bool:
                return bool(
                    await pool.fetchval(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                        "AND query LIKE '%INSERT INTO prediction_replay_evaluations%'"
                    )
                )

            assert await eventually(waiting), "the replay never reached its first write"
            busy = await world.api.post(
                f"/api/models/{model['id']}/replay",
                json={"start": _iso(T0), "end": _iso(T0 + timedelta(minutes=19))},
            )
            assert busy.status_code == 429 and busy.json()["code"] == "replay_busy", busy.text
            assert "REPLAY_MAX_CONCURRENT" in busy.json()["detail"]
        await tx.rollback()
    row = await pool.fetchrow("SELECT * FROM prediction_replays WHERE id = $1", replay_id)
    assert row["status"] == "cancelled" and "service stopped" in row["error"], dict(row)
    assert row["finished_at"] is not None


async def test_start_up_fails_replays_left_by_a_dead_process_only(
    db_dsn: str,
    pool: asyncpg.Pool,
    training_url: str,
    tmp_path: Path,
    trained: dict[str, TrainedFile],
) -> None:
    async with make_world(db_dsn, pool, training_url, tmp_path) as world:
        model = await import_model(world, trained["rf"], "rf-orphan")
    ids = [
        await pool.fetchval(
            "INSERT INTO prediction_replays (active_model_id, range_start, range_end, status, "
            "max_rows, max_seconds) VALUES ($1, $2, $3, $4, 10, 10) RETURNING id",
            model["id"],
            T0,
            T0 + timedelta(hours=1),
            status,
        )
        for status in ("running", "pending", "running")
    ]
    async with pool.acquire() as owner:  # a live process still runs the last one
        await owner.execute(f"SELECT pg_advisory_lock({REPLAY_LOCK_CLASS}, $1::int)", ids[2])
        async with make_world(db_dsn, pool, training_url, tmp_path):
            pass
        rows = await pool.fetch(
            "SELECT status, error FROM prediction_replays WHERE id = ANY($1) ORDER BY id", ids
        )
        assert [r["status"] for r in rows] == ["failed", "failed", "running"]
        assert "stopped before it finished" in rows[0]["error"]
        await owner.execute(f"SELECT pg_advisory_unlock({REPLAY_LOCK_CLASS}, $1::int)", ids[2])


async def test_an_inactive_model_is_replayed_from_its_verified_file(
    world: World, trained: dict[str, TrainedFile]
) -> None:
    """Before activation: the model is not in the live set; its file is loaded (hash checked)
    for the replay, and a missing or changed file is a 409 that says what to do."""
    model = await import_model(world, trained["xgb"], "xgb-inactive", model_type="xgboost")
    resp = await world.api.post(f"/api/models/{model['id']}/deactivate")
    assert resp.status_code == 200, resp.text
    assert await eventually(lambda: model["id"] not in world.service.registry.models)
    await insert_metrics(world.pool, coin_rows("I1", 20, step_seconds=STEP))
    body = {"start": _iso(T0), "end": _iso(T0 + timedelta(minutes=19))}
    done = await replay(world, model["id"], **body)
    assert done["status"] == "done" and done["predictions"]["total"] == 16, done
    assert await world.pool.fetchval("SELECT count(*) FROM predictions") == 0
    path = Path(model["local_model_path"])
    path.write_bytes(path.read_bytes() + b"\0")
    changed = await world.api.post(f"/api/models/{model['id']}/replay", json=body)
    assert changed.status_code == 409, changed.text
    assert changed.json()["code"] == "model_not_loadable"
    assert "changed on disk" in changed.json()["detail"] and "re-import" in changed.json()["detail"]
    path.unlink()
    missing = await world.api.post(f"/api/models/{model['id']}/replay", json=body)
    assert missing.status_code == 409 and "does not exist" in missing.json()["detail"]


async def test_replay_evaluations_equal_the_live_evaluators(
    db_dsn: str,
    pool: asyncpg.Pool,
    training_url: str,
    tmp_path: Path,
    trained: dict[str, TrainedFile],
) -> None:
    """The live evaluator's prediction_evaluations and the replay's rows for the same rows:
    the same outcome, field by field. Recent rows, fed one minute at a time (as they would
    arrive), and a dead-coin wait longer than the test: the live evaluator evaluates each
    prediction once a row after its horizon exists, and leaves the last ones pending — which
    the replay marks as not passed yet."""
    async with make_world(
        db_dsn,
        pool,
        training_url,
        tmp_path,
        evaluation_settle_seconds=0,
        evaluation_interval_seconds=0.2,
        evaluation_dead_coin_seconds=3600,
    ) as world:
        model = await import_model(world, trained["xgb"], "xgb-both", model_type="xgboost")
        first = (await world.pool.fetchval("SELECT now()")) - timedelta(minutes=30)
        coins = stream(30, start=first)
        await feed_live(world, coins)
        due = await world.pool.fetchval(
            "SELECT count(*) FROM predictions p WHERE EXISTS (SELECT 1 FROM coin_metrics m "
            "WHERE m.mint = p.coin_id AND m.timestamp > p.data_timestamp + interval '10 min')"
        )

        async def evaluated() -> bool:
            n = await world.pool.fetchval("SELECT count(*) FROM prediction_evaluations")
            return bool(n == due)

        assert await eventually(evaluated, 60), "the live evaluator did not evaluate them all"
        done = await replay(
            world, model["id"], start=_iso(first), end=_iso(first + timedelta(minutes=29))
        )
        assert done["status"] == "done", done
        columns = (
            "coin_id, data_timestamp, probability, prediction, is_alert, horizon_at, "
            "start_value, end_value, end_timestamp, realised_change_pct, max_change_pct, "
            "max_at, min_change_pct, min_at, target_hit, result, note"
        )
        live = await world.pool.fetch(
            f"SELECT {columns} FROM prediction_evaluations WHERE active_model_id = $1 "
            "ORDER BY coin_id, data_timestamp",
            model["id"],
        )
        replayed = await world.pool.fetch(
            f"SELECT {columns} FROM prediction_replay_evaluations WHERE replay_id = $1 "
            "ORDER BY coin_id, data_timestamp",
            done["id"],
        )
        assert len(live) == due and {r["result"] for r in live} >= {"success", "failed"}
        keys = {(r["coin_id"], r["data_timestamp"]) for r in live}
        same = [dict(r) for r in replayed if (r["coin_id"], r["data_timestamp"]) in keys]
        assert same == [dict(r) for r in live]
        waiting = [r for r in replayed if (r["coin_id"], r["data_timestamp"]) not in keys]
        assert waiting and all("had not passed" in r["note"] for r in waiting)
