"""Import verification that can fail, and models that fail at run time (health, metrics):
a failing model is skipped for its batch, the other models and coins go on."""

from __future__ import annotations

from tests.support.metrics import coin_rows, insert_metrics
from tests.support.models import NAN_CORNER, TrainedFile, insert_ml_model
from tests.support.wait import eventually
from tests.support.world import World


async def _ml_model(world: World, trained: dict[str, TrainedFile], key: str) -> int:
    async with world.pool.acquire() as conn:
        return await insert_ml_model(conn, name=key, path=trained[key].path)


async def test_a_file_whose_outputs_are_not_probabilities_is_refused(
    world: World, trained: dict[str, TrainedFile]
) -> None:
    model_id = await _ml_model(world, trained, "rf_counts")
    resp = await world.api.post("/api/models/import", json={"model_id": model_id})
    assert resp.status_code == 422, resp.text
    body = resp.json()
    assert body["code"] == "invalid_probabilities"
    assert "does not return probabilities" in body["detail"]
    assert "outside [0, 1]" in body["detail"]
    assert await world.pool.fetchval("SELECT count(*) FROM prediction_active_models") == 0
    assert [p.name for p in world.models_dir.iterdir()] == []


async def _metric(world: World, name: str) -> str:
    text = (await world.api.get("/metrics")).text
    return "\n".join(line for line in text.splitlines() if line.startswith(name))


async def test_a_model_failing_at_run_time_degrades_health_within_one_batch(
    world: World, trained: dict[str, TrainedFile]
) -> None:
    ids = {}
    for key in ("rf", "rf_nan_corner"):
        resp = await world.api.post(
            "/api/models/import", json={"model_id": await _ml_model(world, trained, key)}
        )
        assert resp.status_code == 201, resp.text  # the probe does not reach the NaN corner
        ids[key] = resp.json()["id"]
    assert (await world.api.get("/api/health")).status_code == 200

    async def predicted(mint: str, model: int) -> int:
        return int(
            await world.pool.fetchval(
                "SELECT count(*) FROM predictions WHERE coin_id = $1 AND active_model_id = $2",
                mint,
                model,
            )
        )

    normal = coin_rows("NORMAL", 12, seed=1)
    await insert_metrics(world.pool, normal)
    assert await eventually(lambda: predicted("NORMAL", ids["rf_nan_corner"]), 15)

    # a coin in the corner: price, volume and market cap above NAN_CORNER
    corner = coin_rows("CORNER", 12, seed=2)
    for row in corner:
        row.update(price_close=3 * NAN_CORNER, volume_sol=3 * NAN_CORNER)
        row.update(market_cap_close=3 * NAN_CORNER, price_high=3 * NAN_CORNER)
    await insert_metrics(world.pool, corner)
    assert await eventually(lambda: predicted("CORNER", ids["rf"]), 15)  # its batch is done
    assert await predicted("CORNER", ids["rf_nan_corner"]) == 0

    health = await world.api.get("/api/health")
    assert health.status_code == 503, health.text
    body = health.json()
    [failed] = body["models_failed"]
    assert failed["id"] == ids["rf_nan_corner"] and "NaN" in failed["error"]
    assert any(f"model {ids['rf_nan_corner']}" in r for r in body["reasons"])
    assert f'model_id="{ids["rf_nan_corner"]}"}} 1.0' in await _metric(
        world, "ml_model_batch_failures_total"
    )
    assert await _metric(world, "ml_models_failed ") == "ml_models_failed 1.0"
    assert 'ml_errors_total{type="prediction"} 1.0' in await _metric(world, "ml_errors_total")

    # its next successful batch clears it
    more = coin_rows("NORMAL", 13, seed=1)[-1:]
    await insert_metrics(world.pool, more)
    assert await eventually(lambda: _healthy(world), 15), (await world.api.get("/api/health")).text
    assert await _metric(world, "ml_models_failed ") == "ml_models_failed 0.0"


async def _healthy(world: World) -> bool:
    return (await world.api.get("/api/health")).status_code == 200
