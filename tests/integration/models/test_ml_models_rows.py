"""Rows of the training service's ml_models table as they really come: JSONB values stored as
JSON strings, and rows that cannot be read at all."""

from __future__ import annotations

import json

from tests.support.models import RULE_FEATURES, TrainedFile, insert_ml_model
from tests.support.world import World


async def test_json_in_a_string_is_read_and_an_unreadable_row_is_listed_with_its_reason(
    world: World, trained: dict[str, TrainedFile]
) -> None:
    async with world.pool.acquire() as conn:
        # features stored as a JSON string that holds the list (the training service did this)
        stringly = await insert_ml_model(
            conn, name="stringly", path=trained["rf"].path, features=json.dumps(RULE_FEATURES)
        )
        # features that are no list in any reading
        broken = await insert_ml_model(
            conn, name="broken", path=trained["rf"].path, features="price_close, volume_sol"
        )
        fine = await insert_ml_model(conn, name="fine", path=trained["rf"].path)
        await conn.execute(
            "UPDATE ml_models SET params = to_jsonb($2::text) WHERE id = $1",
            stringly,
            json.dumps(
                {"use_engineered_features": True, "feature_engineering_windows": [5, 10, 15]}
            ),
        )

    resp = await world.api.get("/api/models/available")
    assert resp.status_code == 200, resp.text
    listed = {m["name"]: m for m in resp.json()["models"]}
    assert listed["stringly"]["features"] == RULE_FEATURES
    assert listed["stringly"]["params"]["feature_engineering_windows"] == [5, 10, 15]
    assert listed["stringly"]["importable"] is True and listed["stringly"]["reason"] is None
    assert listed["fine"]["importable"] is True
    assert listed["broken"]["importable"] is False and listed["broken"]["features"] is None
    assert "'features' must be a list of names" in listed["broken"]["reason"]
    assert "price_close, volume_sol" in listed["broken"]["reason"]

    imported = await world.api.post("/api/models/import", json={"model_id": stringly})
    assert imported.status_code == 201, imported.text
    assert imported.json()["features"] == RULE_FEATURES
    assert imported.json()["runtime"]["status"] == "loaded"

    refused = await world.api.post("/api/models/import", json={"model_id": broken})
    assert refused.status_code == 422
    assert refused.json()["code"] == "invalid_model_metadata"
    assert "'features' must be a list of names" in refused.json()["detail"]
    assert (await world.api.post("/api/models/import", json={"model_id": fine})).status_code == 201
