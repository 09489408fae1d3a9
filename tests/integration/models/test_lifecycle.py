"""The whole model life cycle through the HTTP API, against the training-service stand-in."""

from __future__ import annotations

from pathlib import Path

from tests.support.models import TrainedFile, insert_ml_model
from tests.support.settings import service_settings
from tests.support.wait import eventually
from tests.support.world import World


async def test_available_without_ml_models_table(db_dsn: str, tmp_path: Path) -> None:
    import httpx

    from ml_prediction_service.api.app import create_app
    from tests.support.http import serve_app

    settings = service_settings(tmp_path, training_url="http://127.0.0.1:9/api")
    app = create_app(settings, db_dsn)
    async with serve_app(app) as url, httpx.AsyncClient(base_url=url) as client:
        resp = await client.get("/api/models/available")
    assert resp.status_code == 200
    body = resp.json()
    assert body["models"] == [] and body["total"] == 0
    assert "ml_models does not exist" in body["reason"]


async def test_full_life_cycle(world: World, trained: dict[str, TrainedFile]) -> None:
    async with world.pool.acquire() as conn:
        rf_id = await insert_ml_model(conn, name="rf-rule", path=trained["rf"].path)
        xgb_id = await insert_ml_model(
            conn,
            name="xgb-time",
            path=trained["xgb"].path,
            model_type="xgboost",
            time_based=True,
            phases=[1, 2],
        )
        await insert_ml_model(conn, name="training", path=trained["rf"].path, status="TRAINING")
        await insert_ml_model(conn, name="gone", path=trained["rf"].path, is_deleted=True)
    api = world.api

    available = (await api.get("/api/models/available")).json()
    assert [m["name"] for m in available["models"]] == ["rf-rule", "xgb-time"]
    assert all(m["already_imported"] is False for m in available["models"])

    resp = await api.post("/api/models/import", json={"model_id": rf_id})
    assert resp.status_code == 201, resp.text
    rf = resp.json()
    assert rf["model_id"] == rf_id and rf["is_active"] is True
    assert rf["alert_threshold"] == 0.7
    assert rf["runtime"]["status"] == "loaded"
    assert rf["runtime"]["runtime"] == "onnxruntime"
    assert rf["runtime"]["input_features"] == trained["rf"].n_features
    assert len(rf["model_sha256"]) == 64
    assert rf["training_metrics"]["roc_auc"] == 0.88

    xgb = (await api.post("/api/models/import", json={"model_id": xgb_id})).json()
    assert xgb["runtime"]["runtime"] == "onnxruntime"
    # time-based fields come from params._time_based when the columns are NULL
    assert (xgb["future_minutes"], xgb["price_change_percent"], xgb["target_direction"]) == (
        10,
        5.0,
        "up",
    )
    assert xgb["target_operator"] is None and xgb["phases"] == [1, 2]
    assert xgb["runtime"]["input_features"] == trained["xgb"].n_features

    again = await api.post("/api/models/import", json={"model_id": rf_id})
    assert again.status_code == 409
    assert again.json()["code"] == "already_imported"
    assert again.json()["active_model_id"] == rf["id"]

    available = (await api.get("/api/models/available")).json()
    assert all(m["already_imported"] for m in available["models"])

    active = (await api.get("/api/models/active")).json()
    assert [m["id"] for m in active["models"]] == [rf["id"], xgb["id"]]
    assert {m.id for m in world.service.registry.active()} == {rf["id"], xgb["id"]}

    renamed = (await api.patch(f"/api/models/{rf['id']}/rename", json={"name": "Pump 5m"})).json()
    assert (renamed["name"], renamed["custom_name"], renamed["model_name"]) == (
        "Pump 5m",
        "Pump 5m",
        "rf-rule",
    )
    thr = await api.patch(f"/api/models/{rf['id']}/alert-threshold", json={"alert_threshold": 0.8})
    assert thr.json()["alert_threshold"] == 0.8
    bad = await api.patch(f"/api/models/{rf['id']}/alert-threshold", json={"alert_threshold": 1.5})
    assert bad.status_code == 422 and bad.json()["code"] == "validation_error"
    assert "alert_threshold" in bad.json()["detail"]
    assert world.service.registry.models[rf["id"]].alert_threshold == 0.8

    off = (await api.post(f"/api/models/{xgb['id']}/deactivate")).json()
    assert off["is_active"] is False and off["runtime"]["status"] == "inactive"
    assert [m["id"] for m in (await api.get("/api/models/active")).json()["models"]] == [rf["id"]]
    everything = (await api.get("/api/models")).json()
    assert {m["id"]: m["is_active"] for m in everything["models"]} == {
        rf["id"]: True,
        xgb["id"]: False,
    }
    assert {m.id for m in world.service.registry.active()} == {rf["id"]}
    on = (await api.post(f"/api/models/{xgb['id']}/activate")).json()
    assert on["is_active"] is True and on["runtime"]["status"] == "loaded"

    # predictions keep their history when the model is deleted
    kept_id = await world.pool.fetchval(
        "INSERT INTO predictions (coin_id, data_timestamp, model_id, active_model_id, "
        "prediction, probability) VALUES ('C', now(), $1, $2, 1, 0.9) RETURNING id",
        rf_id,
        rf["id"],
    )
    path = world.models_dir / rf["local_model_path"].split("/")[-1]
    assert path.exists()
    deleted = await api.delete(f"/api/models/{rf['id']}")
    assert deleted.status_code == 200 and deleted.json()["deleted"] is True
    assert not path.exists()
    assert (await api.get(f"/api/models/{rf['id']}")).status_code == 404
    # untouched (no foreign key rewrites them: migration 0023); the API names no model
    kept = await world.pool.fetchrow("SELECT model_id, active_model_id FROM predictions")
    assert (kept["model_id"], kept["active_model_id"]) == (rf_id, rf["id"])
    shown = (await api.get(f"/api/predictions/{kept_id}")).json()
    assert shown["active_model_id"] == rf["id"] and shown["model_name"] is None
    listed = (await api.get("/api/predictions", params={"active_model_id": rf["id"]})).json()
    assert listed["total"] == 0
    assert {m.id for m in world.service.registry.active()} == {xgb["id"]}


async def test_unknown_ids_are_404_json(world: World) -> None:
    api = world.api
    for method, path, body in [
        ("GET", "/api/models/999", None),
        ("POST", "/api/models/999/activate", None),
        ("POST", "/api/models/999/deactivate", None),
        ("PATCH", "/api/models/999/rename", {"name": "x"}),
        ("PATCH", "/api/models/999/alert-threshold", {"alert_threshold": 0.5}),
        ("DELETE", "/api/models/999", None),
    ]:
        resp = await api.request(method, path, json=body)
        assert resp.status_code == 404, (method, path)
        assert resp.json() == {"detail": "no imported model with id 999", "code": "not_found"}
    resp = await api.post("/api/models/import", json={"model_id": 4242})
    assert resp.status_code == 404
    assert "4242" in resp.json()["detail"]
    # a static path is never taken for an id
    assert (await api.get("/api/models/active")).status_code == 200
    bad_id = await api.get("/api/models/abc")
    assert bad_id.status_code == 422 and bad_id.json()["code"] == "validation_error"


async def test_changes_reach_another_replica_without_restart(
    world: World, trained: dict[str, TrainedFile], tmp_path: Path
) -> None:
    from ml_prediction_service.service import Service

    async with world.pool.acquire() as conn:
        model_id = await insert_ml_model(conn, name="shared", path=trained["rf"].path)
    settings = service_settings(
        tmp_path, training_url=world.training_url, model_refresh_interval_seconds=60
    )
    replica = await Service.start(settings, world.db_dsn)
    try:
        created = (await world.api.post("/api/models/import", json={"model_id": model_id})).json()

        # the periodic refresh is 60 s here: only the NOTIFY can make this quick
        assert await eventually(
            lambda: created["id"] in {m.id for m in replica.registry.active()}, 5
        )
        await world.api.patch(
            f"/api/models/{created['id']}/alert-threshold", json={"alert_threshold": 0.55}
        )
        assert await eventually(
            lambda: replica.registry.models[created["id"]].alert_threshold == 0.55, 5
        )
        await world.api.post(f"/api/models/{created['id']}/deactivate")
        assert await eventually(lambda: not replica.registry.active(), 5)
    finally:
        await replica.stop()
