"""Helpers of the webhook tests: fast retry settings, two imported models, waiting for
requests at the receiver."""

from __future__ import annotations

from typing import Any

from tests.support.models import TrainedFile, insert_ml_model
from tests.support.wait import eventually
from tests.support.world import World

FAST_RETRY = {
    "webhook_retry_base_seconds": 0.05,
    "webhook_retry_max_seconds": 0.3,
    "webhook_poll_seconds": 0.1,
}


async def import_two(world: World, trained: dict[str, TrainedFile]) -> list[dict[str, Any]]:
    """An RF and an XGBoost model, imported through the API."""
    out = []
    async with world.pool.acquire() as conn:
        for key, kind in (("rf", "random_forest"), ("xgb", "xgboost")):
            model_id = await insert_ml_model(
                conn, name=f"{key}-hook", path=trained[key].path, model_type=kind
            )
            resp = await world.api.post("/api/models/import", json={"model_id": model_id})
            assert resp.status_code == 201
            out.append(resp.json())
    return out


async def wait_len(items: list[Any], n: int, seconds: float = 15) -> bool:
    async def check() -> bool:
        return len(items) >= n

    return bool(await eventually(check, seconds))
