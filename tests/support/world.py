"""A world for registry and pipeline tests: stand-in tables, the training-service stand-in over
real HTTP, and the service itself, all on one fresh database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from ml_prediction_service.api.app import create_app
from ml_prediction_service.service import Service
from ml_prediction_service.stand_ins.ddl import create_dev_schema
from ml_prediction_service.stand_ins.training_service import create_app as create_training_app
from tests.support.http import serve_app
from tests.support.models import TrainedFile, insert_ml_model, train_files
from tests.support.settings import service_settings


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, TrainedFile]:
    return train_files(tmp_path_factory.mktemp("trained"))


@dataclass
class World:
    api: httpx.AsyncClient
    service: Service
    pool: asyncpg.Pool
    models_dir: Path
    training_url: str
    db_dsn: str


@pytest.fixture
async def training_url(db_dsn: str, pool: asyncpg.Pool) -> AsyncIterator[str]:
    async with pool.acquire() as conn:
        await create_dev_schema(conn)
    async with serve_app(create_training_app(db_dsn)) as url:
        yield f"{url}/api"


@asynccontextmanager
async def make_world(
    db_dsn: str, pool: asyncpg.Pool, training_url: str, tmp_path: Path, **overrides: object
) -> AsyncIterator[World]:
    """The service (API + pipeline) on ``db_dsn``, with settings overrides."""
    settings = service_settings(tmp_path, training_url=training_url, api_key="k", **overrides)
    app = create_app(settings, db_dsn)
    async with (
        serve_app(app) as url,
        httpx.AsyncClient(base_url=url, timeout=30, headers={"X-API-Key": "k"}) as client,
    ):
        yield World(client, app.state.service, pool, settings.models_dir, training_url, db_dsn)
        crashes = app.state.service.metrics.errors_total.labels(type="task_crash")._value.get()
    # An unhandled exception in a background task fails the test.
    assert crashes == 0, "a background task crashed: see the log above"


@pytest.fixture
async def world(
    db_dsn: str, pool: asyncpg.Pool, training_url: str, tmp_path: Path
) -> AsyncIterator[World]:
    async with make_world(db_dsn, pool, training_url, tmp_path) as w:
        yield w


async def import_models(
    world: World, trained: dict[str, TrainedFile], **kw: Any
) -> list[dict[str, Any]]:
    """An RF and an XGBoost model (``rf_phases``/``xgb_phases``) in ml_models, imported
    through the API; their active models as the API returned them."""
    out = []
    async with world.pool.acquire() as conn:
        specs = [
            ("rf", "random_forest", kw.get("rf_phases")),
            ("xgb", "xgboost", kw.get("xgb_phases")),
        ]
        for key, kind, phases in specs:
            model_id = await insert_ml_model(
                conn, name=f"{key}-model", path=trained[key].path, model_type=kind, phases=phases
            )
            resp = await world.api.post("/api/models/import", json={"model_id": model_id})
            assert resp.status_code == 201, resp.text
            out.append(resp.json())
    return out


async def count_predictions(pool: asyncpg.Pool, where: str = "true", *args: Any) -> int:
    return int(await pool.fetchval(f"SELECT count(*) FROM predictions WHERE {where}", *args))
