"""The reference fixtures (models from the training service's pinned versions) imported through
the API like any training-service model, then predicted through POST /api/predict on coins whose
snapshot feature rows are the stored probe rows: the service's features and runtime together
give the original library's probabilities."""

from __future__ import annotations

import json

import pytest

from ml_prediction_service.stand_ins.ml_models import insert_row
from tests.support.metrics import insert_metrics
from tests.support.reference_models import ReferenceModel, generations, reference, reference_models
from tests.support.world import World


async def _insert(world: World, model: ReferenceModel) -> int:
    meta = model.meta
    return await insert_row(
        world.pool,
        name=meta["name"],
        model_type=meta["model_type"],
        status="READY",
        is_deleted=False,
        target_variable=meta["target_variable"],
        target_operator=meta["target_operator"],
        target_value=meta["target_value"],
        features=meta["features"],
        params=meta["params"],
        model_file_path=str(model.path),
    )


@pytest.mark.parametrize("generation", generations())
async def test_imported_fixtures_predict_the_original_probabilities(
    world: World, generation: str
) -> None:
    models = [m for m in reference_models() if m.generation == generation]
    active: dict[int, ReferenceModel] = {}
    for model in models:
        resp = await world.api.post(
            "/api/models/import", json={"model_id": await _insert(world, model)}
        )
        assert resp.status_code == 201, resp.text
        body = resp.json()
        assert body["model_library"] == model.library
        assert body["model_library_version"] == model.libraries[model.library]
        runtime = body["runtime"]
        assert runtime["runtime"] == "onnxruntime", runtime
        assert runtime["library_version"] == model.libraries[model.library]
        assert runtime["probe_max_diff"] <= 1e-5 and runtime["probe_rows"] > 0
        active[body["id"]] = model
    shown = (await world.api.get(f"/api/models/{next(iter(active))}")).json()["runtime"]
    assert shown["library"] in ("scikit-learn", "xgboost") and shown["installed_version"]

    coins = reference(generation)["coins"]
    rows = [{"mint": c["mint"], **row} for c in coins for row in c["rows"]]
    await insert_metrics(world.pool, rows)
    for coin in coins:
        resp = await world.api.post(
            "/api/predict", json={"coin_id": coin["mint"], "model_ids": sorted(active)}
        )
        assert resp.status_code == 200, resp.text
        for result in resp.json()["predictions"]:
            model = active[result["active_model_id"]]
            assert result["status"] == "ok", json.dumps(result)[:300]
            probe = model.meta["probe"]
            row = probe["coin_rows"][coin["mint"]]
            want = probe["proba"][row][1]
            assert abs(result["probability"] - want) <= 1e-6, (model.key, coin["mint"])
            # the snapshot's features are the training side's feature row
            features = [result["features"][name] for name in model.meta["features"]]
            assert features == pytest.approx(probe["rows"][row], rel=1e-9, abs=1e-9)
