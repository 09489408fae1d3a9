"""POST /api/predict and the prediction read endpoints."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tests.support.expected import expected_probability
from tests.support.metrics import T0, coin_rows, insert_metrics
from tests.support.models import TrainedFile
from tests.support.wait import eventually
from tests.support.world import World, count_predictions, import_models


async def test_predict_now_and_as_of_a_timestamp(
    world: World, trained: dict[str, TrainedFile]
) -> None:
    rf, xgb = await import_models(world, trained, xgb_phases=[3])
    await insert_metrics(world.pool, coin_rows("MANUAL", 20, seed=11))
    resp = await world.api.post("/api/predict", json={"coin_id": "MANUAL"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["timestamp"].startswith((T0 + timedelta(seconds=95)).isoformat()[:19])
    assert body["history_rows"] == 20 and body["stored"] is False
    by_id = {p["active_model_id"]: p for p in body["predictions"]}
    assert by_id[rf["id"]]["status"] == "ok"
    loaded = world.service.registry.models[rf["id"]].loaded
    assert loaded is not None
    expected = await expected_probability(
        world.pool,
        "MANUAL",
        T0 + timedelta(seconds=95),
        Path(rf["local_model_path"]),
        loaded.input_columns,
    )
    assert by_id[rf["id"]]["probability"] == pytest.approx(expected, abs=1e-6)
    assert set(by_id[rf["id"]]["features"]) == set(loaded.input_columns)
    assert by_id[xgb["id"]] | {} and by_id[xgb["id"]]["status"] == "refused"
    assert by_id[xgb["id"]]["reason"] == "phase_not_served"

    past = await world.api.post(
        "/api/predict",
        json={"coin_id": "MANUAL", "timestamp": (T0 + timedelta(seconds=22)).isoformat()},
    )
    body = past.json()
    assert body["history_rows"] == 5  # rows at 0, 5, 10, 15, 20 s
    only = await world.api.post(
        "/api/predict",
        json={
            "coin_id": "MANUAL",
            "model_ids": [rf["id"]],
            "timestamp": (T0 + timedelta(seconds=12)).isoformat(),
        },
    )
    preds = only.json()["predictions"]
    assert [p["active_model_id"] for p in preds] == [rf["id"]]
    assert preds[0]["reason"] == "too_little_history"


async def test_predict_errors(world: World, trained: dict[str, TrainedFile]) -> None:
    await import_models(world, trained)
    await insert_metrics(world.pool, coin_rows("E", 6, seed=1))
    unknown = await world.api.post("/api/predict", json={"coin_id": "NOPE"})
    assert unknown.status_code == 404 and unknown.json()["code"] == "coin_not_found"
    early = await world.api.post(
        "/api/predict", json={"coin_id": "E", "timestamp": "2020-01-01T00:00:00Z"}
    )
    assert early.status_code == 404 and "at or before" in early.json()["detail"]
    bad_model = await world.api.post("/api/predict", json={"coin_id": "E", "model_ids": [999]})
    assert bad_model.status_code == 404 and "999" in bad_model.json()["detail"]
    bad_body = await world.api.post("/api/predict", json={"coin": "E"})
    assert bad_body.status_code == 422 and bad_body.json()["code"] == "validation_error"
    bad_ts = await world.api.post("/api/predict", json={"coin_id": "E", "timestamp": "soon"})
    assert bad_ts.status_code == 422 and "timestamp" in bad_ts.json()["detail"]


async def test_list_get_and_latest(world: World, trained: dict[str, TrainedFile]) -> None:
    rf, xgb = await import_models(world, trained)
    await insert_metrics(world.pool, coin_rows("L1", 10, seed=1))
    await insert_metrics(world.pool, coin_rows("L2", 10, seed=2, start=T0 + timedelta(hours=1)))

    async def done() -> bool:
        return await count_predictions(world.pool) == 4

    assert await eventually(done)
    api = world.api
    everything = (await api.get("/api/predictions")).json()
    assert everything["total"] == 4 and len(everything["predictions"]) == 4
    assert everything["predictions"][0]["coin_id"] == "L2"  # newest data first
    page = (await api.get("/api/predictions", params={"limit": 1, "offset": 1})).json()
    assert page["total"] == 4 and len(page["predictions"]) == 1
    assert page["predictions"][0]["id"] == everything["predictions"][1]["id"]
    by_coin = (await api.get("/api/predictions", params={"coin_id": "L1"})).json()
    assert {p["coin_id"] for p in by_coin["predictions"]} == {"L1"} and by_coin["total"] == 2
    by_model = (await api.get("/api/predictions", params={"active_model_id": xgb["id"]})).json()
    assert {p["active_model_id"] for p in by_model["predictions"]} == {xgb["id"]}
    assert by_model["predictions"][0]["model_name"] == "xgb-model"
    window = (
        await api.get(
            "/api/predictions",
            params={"from": (T0 + timedelta(minutes=30)).isoformat(), "to": "2030-01-01T00:00:00Z"},
        )
    ).json()
    assert {p["coin_id"] for p in window["predictions"]} == {"L2"}
    high = (await api.get("/api/predictions", params={"min_probability": 0.99})).json()
    assert all(p["probability"] >= 0.99 for p in high["predictions"])
    bad = await api.get("/api/predictions", params={"limit": 0})
    assert bad.status_code == 422
    inverted = await api.get(
        "/api/predictions", params={"from": "2030-01-01T00:00:00Z", "to": "2020-01-01T00:00:00Z"}
    )
    assert inverted.status_code == 422

    one = everything["predictions"][0]
    got = (await api.get(f"/api/predictions/{one['id']}")).json()
    evaluation = got.pop("evaluation")  # the detail adds the prediction's evaluation
    assert got == one
    assert evaluation["result"] == "not_applicable" and evaluation["horizon_at"] is None
    assert (await api.get("/api/predictions/999999")).status_code == 404

    latest = (await api.get("/api/predictions/latest/L1")).json()
    assert {p["active_model_id"] for p in latest["predictions"]} == {rf["id"], xgb["id"]}
    missing = await api.get("/api/predictions/latest/NOPE")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
