"""Helpers of the webhook tests: fast retry settings, two imported models, waiting for
requests at the receiver."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg

from ml_prediction_service.demo.receiver import ReceiverStats, receiver_app
from tests.support.http import serve_app
from tests.support.models import TrainedFile, insert_ml_model
from tests.support.wait import eventually
from tests.support.world import World, make_world

FAST_RETRY: dict[str, object] = {
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


async def wait_logged(pool: asyncpg.Pool, n: int, where: str = "true", seconds: float = 15) -> bool:
    """Until ``n`` delivery-log rows match ``where``. The receiver answers before the sender
    records the attempt, so a test that reads or orders the log waits for it here."""

    async def check() -> bool:
        count = await pool.fetchval(f"SELECT count(*) FROM prediction_webhook_log WHERE {where}")
        return int(count) >= n

    return bool(await eventually(check, seconds))


@asynccontextmanager
async def hooked_world(
    db_dsn: str,
    pool: asyncpg.Pool,
    training_url: str,
    tmp_path: Path,
    receiver: ReceiverStats,
    **overrides: object,
) -> AsyncIterator[World]:
    """A service whose default webhook URL is a local receiver (any path), fast retries
    (and any other settings ``overrides``)."""
    settings = FAST_RETRY | overrides
    async with (
        serve_app(receiver_app(receiver, any_path=True)) as url,
        make_world(db_dsn, pool, training_url, tmp_path, n8n_webhook_url=url, **settings) as w,
    ):
        yield w
