"""Events that arrive while no model is active are not consumed silently: a log line says
so, and health is degraded with the reason until a model is active again."""

from __future__ import annotations

import logging

import pytest

from tests.support.http import health_status
from tests.support.metrics import coin_rows, insert_metrics
from tests.support.models import TrainedFile
from tests.support.wait import eventually
from tests.support.world import World, count_predictions, import_models


async def test_events_without_an_active_model_degrade_health_and_are_logged(
    world: World, trained: dict[str, TrainedFile], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="ml_prediction_service.pipeline.worker")
    assert (await health_status(world.api, 200, 30)).status_code == 200  # nothing arrived yet

    await insert_metrics(world.pool, coin_rows("NOMODEL", 8, seed=3))
    degraded = await health_status(world.api, 503, 15)
    assert degraded.status_code == 503, degraded.text
    [reason] = [r for r in degraded.json()["reasons"] if "no model is active" in r]
    assert "8 event(s) consumed without a prediction" in reason
    assert await world.pool.fetchval("SELECT count(*) FROM prediction_events") == 0
    logged = [r.getMessage() for r in caplog.records if "no model is active" in r.getMessage()]
    assert logged and "import or activate a model" in logged[0]

    # a model becomes active: healthy again, and the next rows are predicted
    await import_models(world, trained)
    healthy = await health_status(world.api, 200, 15)
    assert healthy.status_code == 200, healthy.text
    await insert_metrics(world.pool, coin_rows("NOMODEL", 9, seed=3)[-1:])

    async def predicted() -> bool:
        return await count_predictions(world.pool, "coin_id = 'NOMODEL'") > 0

    assert await eventually(predicted)
