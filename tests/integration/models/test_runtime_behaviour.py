"""Hot reload, replaced files, failure isolation and uploads."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import asyncpg
import httpx
import numpy as np
from prometheus_client.parser import text_string_to_metric_families

from ml_prediction_service.api.app import create_app
from ml_prediction_service.service import Service
from tests.support.http import serve_app
from tests.support.models import RULE_FEATURES, TrainedFile, insert_ml_model
from tests.support.settings import service_settings
from tests.support.world import World, make_world


async def _import(world: World, trained: dict[str, TrainedFile], key: str, name: str) -> dict:
    async with world.pool.acquire() as conn:
        model_id = await insert_ml_model(
            conn,
            name=name,
            path=trained[key].path,
            model_type="xgboost" if key.startswith("xgb") else "random_forest",
        )
    resp = await world.api.post("/api/models/import", json={"model_id": model_id})
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


async def test_a_changed_file_is_never_loaded_until_reimported(
    world: World, trained: dict[str, TrainedFile], tmp_path: Path
) -> None:
    created = await _import(world, trained, "rf", "replace-me")
    registry = world.service.registry
    x = np.random.default_rng(5).normal(size=(20, trained["rf"].n_features))
    before = registry.models[created["id"]].loaded
    assert before is not None
    p_before = before.runtime.predict_proba(x)

    # another valid model file takes the place of the imported one
    path = Path(created["local_model_path"])
    shutil.copyfile(trained["rf_other"].path, path)
    await registry.refresh()
    model = registry.models[created["id"]]
    assert model.loaded is before  # the verified copy in memory keeps serving
    assert np.array_equal(model.loaded.runtime.predict_proba(x), p_before)
    assert model.error is not None and "changed on disk" in model.error
    health = await world.api.get("/api/health")
    assert health.status_code == 503 and health.json()["status"] == "degraded"
    [failed] = health.json()["models_failed"]
    assert failed["id"] == created["id"] and failed["serving"] is True
    assert "changed on disk" in failed["error"]
    assert any("changed on disk" in r for r in health.json()["reasons"])

    # a garbage file in its place changes nothing either
    path.write_bytes(b"garbage that is not a model")
    await registry.refresh()
    assert registry.models[created["id"]].loaded is before

    # after a restart the changed file is not loaded: reported, not guessed
    shutil.copyfile(trained["rf_other"].path, path)
    settings = service_settings(tmp_path / "replica", training_url=world.training_url)
    app = create_app(settings, world.db_dsn)
    async with serve_app(app) as url, httpx.AsyncClient(base_url=url) as client:
        service: Service = app.state.service
        assert service.registry.active() == []
        info = (await client.get(f"/api/models/{created['id']}")).json()["runtime"]
        assert info["status"] == "error" and "changed on disk" in info["error"]
        health = (await client.get("/api/health")).json()
        assert health["status"] == "degraded"
        assert [(f["id"], f["serving"]) for f in health["models_failed"]] == [
            (created["id"], False)
        ]

    # re-importing fetches the genuine file from the training service again
    resp = await world.api.post(f"/api/models/{created['id']}/reimport")
    assert resp.status_code == 200, resp.text
    assert resp.json()["runtime"]["status"] == "loaded"
    assert resp.json()["model_sha256"] == created["model_sha256"]
    model = registry.models[created["id"]]
    assert model.error is None and model.loaded is not None
    assert np.array_equal(model.loaded.runtime.predict_proba(x), p_before)
    health = await world.api.get("/api/health")
    assert health.json()["models_failed"] == [], health.json()


async def test_model_that_fails_to_load_is_isolated(
    world: World, trained: dict[str, TrainedFile], tmp_path: Path
) -> None:
    good = await _import(world, trained, "xgb", "good")
    bad = await _import(world, trained, "rf", "bad")
    Path(bad["local_model_path"]).unlink()
    # a fresh replica starts with one model file missing
    settings = service_settings(tmp_path / "replica", training_url=world.training_url)
    app = create_app(settings, world.db_dsn)
    async with serve_app(app) as url, httpx.AsyncClient(base_url=url) as client:
        service: Service = app.state.service
        assert [m.id for m in service.registry.active()] == [good["id"]]
        info = (await client.get(f"/api/models/{bad['id']}")).json()["runtime"]
        assert info["status"] == "error" and "does not exist" in info["error"]
        health = (await client.get("/api/health")).json()
        assert [f["id"] for f in health["models_failed"]] == [bad["id"]]
        metrics = (await client.get("/metrics")).text
        assert 'ml_errors_total{type="model_load"} 1.0' in metrics
        assert "ml_active_models 2.0" in metrics
        assert "ml_models_loaded 1.0" in metrics


async def test_upload_requires_api_key_and_validates(
    world: World, trained: dict[str, TrainedFile], db_dsn: str, tmp_path: Path
) -> None:
    meta = {
        "name": "uploaded-rf",
        "model_type": "random_forest",
        "target_variable": "buy_pressure_ratio",
        "target_operator": ">",
        "target_value": 0.6,
        "features": RULE_FEATURES,
        "params": {"use_engineered_features": True, "feature_engineering_windows": [5, 10, 15]},
    }
    files = {"file": ("m.joblib", trained["rf"].path.read_bytes(), "application/octet-stream")}

    no_key = await world.api.post(
        "/api/models/upload",
        data={"metadata": json.dumps(meta)},
        files=files,
        headers={"X-API-Key": "wrong"},
    )
    assert no_key.status_code == 401

    resp = await world.api.post(
        "/api/models/upload", data={"metadata": json.dumps(meta)}, files=files
    )
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["model_id"] < 0 and body["source"] == "upload"
    assert body["runtime"]["status"] == "loaded"

    bad_meta = await world.api.post(
        "/api/models/upload",
        data={"metadata": json.dumps({**meta, "model_type": "svm"})},
        files=files,
    )
    assert bad_meta.status_code == 422 and "model_type" in bad_meta.json()["detail"]
    not_json = await world.api.post("/api/models/upload", data={"metadata": "{"}, files=files)
    assert not_json.status_code == 422 and "not valid JSON" in not_json.json()["detail"]
    html = await world.api.post(
        "/api/models/upload",
        data={"metadata": json.dumps(meta)},
        files={"file": ("m.joblib", b"<html>oops</html>", "text/html")},
    )
    assert html.status_code == 422 and html.json()["code"] == "invalid_model_file"

    # without API_KEY configured, uploads are refused outright
    open_settings = service_settings(tmp_path / "open", training_url=world.training_url)
    async with (
        serve_app(create_app(open_settings, db_dsn)) as url,
        httpx.AsyncClient(base_url=url) as client,
    ):
        refused = await client.post(
            "/api/models/upload", data={"metadata": json.dumps(meta)}, files=files
        )
    assert refused.status_code == 403 and refused.json()["code"] == "uploads_disabled"


async def test_moving_counters_are_not_a_model_change(
    world: World, trained: dict[str, TrainedFile]
) -> None:
    created = await _import(world, trained, "rf", "counted")
    registry = world.service.registry
    await registry.refresh()
    version, loaded = registry.version, registry.models[created["id"]].loaded
    await world.pool.execute(
        "UPDATE prediction_active_models SET total_predictions = 41, last_prediction_at = now() "
        "WHERE id = $1",
        created["id"],
    )
    await registry.refresh()
    model = registry.models[created["id"]]
    assert registry.version == version and model.loaded is loaded
    assert model.record.total_predictions == 41  # the counters are still current
    await world.pool.execute(
        "UPDATE prediction_active_models SET alert_threshold = 0.9 WHERE id = $1", created["id"]
    )
    await registry.refresh()
    assert registry.version == version + 1  # a real change
    assert registry.models[created["id"]].alert_threshold == 0.9


async def test_models_loaded_counts_the_serving_models_and_every_load_is_timed(
    db_dsn: str,
    pool: asyncpg.Pool,
    training_url: str,
    tmp_path: Path,
    trained: dict[str, TrainedFile],
) -> None:
    # a load cache of one file, three active models: all three serve, all three are loaded
    async with make_world(db_dsn, pool, training_url, tmp_path, model_cache_size=1) as w:
        for key, name in (("rf", "one"), ("xgb", "two"), ("rf_other", "three")):
            await _import(w, trained, key, name)
        await w.service.registry.refresh()
        assert len(w.service.registry.active()) == 3
        assert len(w.service.registry.cache.items) == 1
        metrics = (await w.api.get("/metrics")).text
    values = {
        s.name: s.value
        for family in text_string_to_metric_families(metrics)
        for s in family.samples
        if not s.labels
    }
    assert values["ml_active_models"] == 3
    assert values["ml_models_loaded"] == 3
    # each import loaded (and verified) its file once, and that load is timed
    assert values["ml_model_load_duration_seconds_count"] == 3
