"""GET /api/evaluations (filters, paging, JSON errors) and the evaluation webhook (send mode
``evaluations``) at a real local receiver — real service, real database, real models."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from ml_prediction_service.demo.receiver import ReceiverStats
from tests.support.evaluations import FLAT, MANUAL, UP, predicted, prediction_ids, then
from tests.support.models import TrainedFile
from tests.support.statistics_rows import import_model
from tests.support.wait import eventually
from tests.support.webhooks import hooked_world, wait_logged
from tests.support.world import World, make_world


@pytest.fixture
async def manual(
    db_dsn: str, pool: asyncpg.Pool, training_url: str, tmp_path: Path
) -> AsyncIterator[World]:
    async with make_world(db_dsn, pool, training_url, tmp_path, **MANUAL) as w:
        yield w


async def settled(pool: asyncpg.Pool) -> None:
    """Until every coin_metrics event has been predicted."""

    async def done() -> bool:
        return int(await pool.fetchval("SELECT count(*) FROM prediction_events")) == 0

    assert await eventually(done, 20)


async def threshold_zero(world: World, model: dict[str, Any], **webhook: Any) -> None:
    """Every prediction of the model an alert (and its webhook settings), once the pipeline
    serves them."""
    resp = await world.api.patch(
        f"/api/models/{model['id']}/alert-threshold", json={"alert_threshold": 0}
    )
    assert resp.status_code == 200, resp.text
    if webhook:
        resp = await world.api.patch(f"/api/models/{model['id']}/webhook", json=webhook)
        assert resp.status_code == 200, resp.text

    async def served() -> bool:
        record = world.service.registry.models[model["id"]].record
        modes = webhook.get("send_mode")
        return record.alert_threshold == 0 and (
            modes is None or set(record.webhook_send_mode) == set(modes)
        )

    assert await eventually(served, 10)


async def test_the_evaluations_list_filters_pages_and_refuses_bad_input(
    manual: World, trained: dict[str, TrainedFile]
) -> None:
    world = manual
    rf = await import_model(world, trained["rf"], "rf-time")
    xgb = await import_model(world, trained["xgb"], "xgb-time", model_type="xgboost")
    await threshold_zero(world, rf)  # rf: alerts only; xgb: at 0.7
    up = await predicted(world.pool, "UP", 2)
    flat = await predicted(world.pool, "FLAT", 2, start=up.timestamp + timedelta(hours=1))
    await then(world.pool, up, UP)
    await then(world.pool, flat, FLAT)
    await settled(world.pool)
    await world.service.evaluator.run_round()
    api = world.api

    everything = (await api.get("/api/evaluations", params={"limit": 1000})).json()
    items = everything["items"]
    stored = int(await world.pool.fetchval("SELECT count(*) FROM prediction_evaluations"))
    assert everything["total"] == len(items) == stored >= 4
    assert (everything["limit"], everything["offset"]) == (1000, 0)
    stamps = [(i["data_timestamp"], i["prediction_id"]) for i in items]
    assert stamps == sorted(stamps, reverse=True)  # newest data first
    assert {i["model_name"] for i in items} == {"rf-time", "xgb-time"}

    def where(**match: Any) -> list[int]:
        return [i["prediction_id"] for i in items if all(i[k] == v for k, v in match.items())]

    async def listed(**params: Any) -> tuple[list[int], int]:
        body = (await api.get("/api/evaluations", params={"limit": 1000, **params})).json()
        return [i["prediction_id"] for i in body["items"]], body["total"]

    checks = [
        ({"model_id": rf["model_id"]}, {"model_id": rf["model_id"]}),
        ({"active_model_id": xgb["id"]}, {"active_model_id": xgb["id"]}),
        ({"coin_id": "UP"}, {"coin_id": "UP"}),
        ({"result": "success"}, {"result": "success"}),
        ({"result": "failed"}, {"result": "failed"}),
        ({"is_alert": "true"}, {"is_alert": True}),
        ({"is_alert": "false"}, {"is_alert": False}),
        (
            {"coin_id": "UP", "active_model_id": rf["id"]},
            {"coin_id": "UP", "model_name": "rf-time"},
        ),
    ]
    for params, match in checks:
        ids, total = await listed(**params)
        assert ids == where(**match), params
        assert total == len(ids), params
    assert await listed(coin_id="UP", active_model_id=rf["id"]) != ([], 0)
    assert (await listed(result="success"))[1] + (await listed(result="failed"))[1] + (
        await listed(result="not_applicable")
    )[1] == stored
    # UP's evaluations of the snapshot came true, FLAT's did not
    ids = await prediction_ids(world.pool, up)
    up_items = [i for i in items if i["prediction_id"] in ids.values()]
    assert len(up_items) == 2 and all(i["target_hit"] is True for i in up_items)
    assert all(i["realised_change_pct"] == pytest.approx(8.0, abs=1e-6) for i in up_items)
    # time range on the prediction's data time: only FLAT's hour
    later = (await listed(**{"from": flat.timestamp.isoformat()}))[0]
    assert later == [i["prediction_id"] for i in items if i["coin_id"] == "FLAT"]
    earlier = (await listed(to=(flat.timestamp - timedelta(seconds=1)).isoformat()))[0]
    assert earlier == [i["prediction_id"] for i in items if i["coin_id"] == "UP"]
    # paging
    page = (await api.get("/api/evaluations", params={"limit": 1, "offset": 1})).json()
    assert page["total"] == stored and [i["prediction_id"] for i in page["items"]] == [
        items[1]["prediction_id"]
    ]
    # bad input: JSON errors that say what to change
    bad = await api.get("/api/evaluations", params={"result": "maybe"})
    assert bad.status_code == 422 and bad.json()["code"] == "validation_error"
    assert "result" in bad.json()["detail"] and "success" in bad.json()["detail"]
    for params in (
        {"limit": 0},
        {"active_model_id": 2**63},
        {"is_alert": "perhaps"},
        {"from": "2030-01-01T00:00:00Z", "to": "2020-01-01T00:00:00Z"},
        {"to": "soon"},
    ):
        resp = await api.get("/api/evaluations", params=params)
        assert resp.status_code == 422, params
        assert resp.json()["code"] == "validation_error" and resp.json()["detail"], params


async def test_an_evaluated_alert_sends_its_outcome_to_the_webhook(
    db_dsn: str,
    pool: asyncpg.Pool,
    training_url: str,
    tmp_path: Path,
    trained: dict[str, TrainedFile],
) -> None:
    receiver = ReceiverStats(record=True)
    async with hooked_world(db_dsn, pool, training_url, tmp_path, receiver, **MANUAL) as w:
        rf = await import_model(w, trained["rf"], "rf-time")
        xgb = await import_model(w, trained["xgb"], "xgb-time", model_type="xgboost")
        # both alert on everything; only rf asks for the outcomes
        await threshold_zero(w, rf, send_mode=["alerts_only", "evaluations"])
        await threshold_zero(w, xgb, send_mode=["alerts_only"])
        up = await predicted(w.pool, "UP", 2)
        ids = await prediction_ids(w.pool, up)

        async def alert_sent() -> bool:
            status = await w.pool.fetchval(
                "SELECT status FROM prediction_webhook_outbox WHERE coin_id = 'UP'"
            )
            return bool(status == "delivered")

        # the alert's own delivery first (the later rows' snapshots would supersede it)
        assert await eventually(alert_sent, 15)
        await then(w.pool, up, UP)
        await settled(w.pool)
        await w.service.evaluator.run_round()

        def outcomes() -> list[dict[str, Any]]:
            return [
                r.json
                for r in receiver.requests
                if r.json.get("event") == "evaluation"
                and r.json["timestamp"] == up.timestamp.isoformat()
            ]

        assert await eventually(outcomes, 15), "no evaluation webhook arrived"
        assert await wait_logged(w.pool, 1, "outcome = 'delivered'")
        await w.service.evaluator.run_round()  # nothing new: nothing sent again
        await asyncio.sleep(0.5)
        sent = outcomes()
        kinds = await w.pool.fetch(
            "SELECT kind, status FROM prediction_webhook_outbox WHERE coin_id = 'UP' "
            "AND data_timestamp = $1 ORDER BY kind",
            up.timestamp,
        )
        evaluation = await w.pool.fetchrow(
            "SELECT * FROM prediction_evaluations WHERE prediction_id = $1", ids[rf["id"]]
        )
    assert len(sent) == 1
    body = sent[0]
    assert body["coin_id"] == "UP"
    assert body["metadata"]["total_evaluations"] == 1 and body["metadata"]["came_true"] == 1
    assert body["metadata"]["service"] == "ml-prediction-service"
    [item] = body["evaluations"]  # xgb's outcome is not sent: no "evaluations" mode
    assert item["prediction_id"] == ids[rf["id"]]
    assert item["model"]["active_model_id"] == rf["id"] and item["model"]["name"] == "rf-time"
    assert item["is_alert"] is True and item["alert_threshold"] == 0
    assert item["target_hit"] is True
    assert item["result"] == ("success" if item["prediction"] == 1 else "failed")
    assert item["result"] == evaluation["result"]
    assert item["realised_change_pct"] == pytest.approx(8.0, abs=1e-6)
    assert item["max_change_pct"] == pytest.approx(20.0, abs=1e-6)
    assert item["min_change_pct"] == pytest.approx(-3.0, abs=1e-6)
    assert item["horizon_at"] == (up.timestamp + timedelta(minutes=10)).isoformat()
    assert item["end_timestamp"] == (up.timestamp + timedelta(minutes=9)).isoformat()
    assert item["evaluated_at"] == evaluation["evaluated_at"].isoformat()
    assert item["note"] is None
    # beside the alert's own delivery; the later snapshots' alerts superseded neither
    assert [(k["kind"], k["status"]) for k in kinds] == [
        ("evaluation", "delivered"),
        ("prediction", "delivered"),
    ]
