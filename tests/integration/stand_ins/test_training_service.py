"""The training-service stand-in on a real uvicorn server (127.0.0.1, free port) + httpx."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from ml_prediction_service.stand_ins.ddl import create_dev_schema
from ml_prediction_service.stand_ins.ml_models import insert_row
from ml_prediction_service.stand_ins.training import train_demo_model
from ml_prediction_service.stand_ins.training_service import TIME_BASED_COLUMNS, create_app
from tests.support.http import serve_app


@pytest.fixture
async def models(pool: asyncpg.Pool, tmp_path: Path) -> dict[str, int]:
    async with pool.acquire() as conn:
        await create_dev_schema(conn)
        ready = await train_demo_model(conn, tmp_path, "random_forest", "rule", "ready", n_coins=8)
        timed = await train_demo_model(conn, tmp_path, "xgboost", "time", "timed", n_coins=8)
        gone = await train_demo_model(conn, tmp_path, "random_forest", "rule", "gone", n_coins=8)
        await conn.execute(
            "UPDATE ml_models SET is_deleted = TRUE, deleted_at = NOW() WHERE id = $1", gone["id"]
        )
        lost = await insert_row(
            conn,
            name="lost",
            model_type="xgboost",
            status="READY",
            target_variable="price_close",
            features=[],
            model_file_path=str(tmp_path / "missing.pkl"),
        )
        busy = await insert_row(
            conn,
            name="busy",
            model_type="random_forest",
            status="TRAINING",
            target_variable="price_close",
            features=[],
        )
    return {
        "ready": ready["id"],
        "timed": timed["id"],
        "gone": gone["id"],
        "lost": lost,
        "busy": busy,
    }


@pytest.fixture
async def api(db_dsn: str) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        serve_app(create_app(db_dsn)) as url,
        httpx.AsyncClient(base_url=f"{url}/api", timeout=10) as client,
    ):
        yield client


async def test_list_filters_ready_and_not_deleted(
    models: dict[str, int], api: httpx.AsyncClient
) -> None:
    response = await api.get("/models", params={"status": "READY", "is_deleted": "false"})
    assert response.status_code == 200
    listed = response.json()
    assert [m["id"] for m in listed] == [models["ready"], models["timed"], models["lost"]]
    for model in listed:
        assert not set(TIME_BASED_COLUMNS) & set(model)
        assert model["status"] == "READY" and model["is_deleted"] is False
    timed = next(m for m in listed if m["name"] == "timed")
    assert timed["target_operator"] is None
    assert timed["params"]["_time_based"]["min_percent_change"] == 20.0
    assert isinstance(timed["features"], list) and isinstance(timed["training_f1"], float)
    everything = (await api.get("/models")).json()
    assert len(everything) == 5


async def test_details_and_404s(models: dict[str, int], api: httpx.AsyncClient) -> None:
    one = await api.get(f"/models/{models['timed']}")
    assert one.status_code == 200
    body = one.json()
    assert body["id"] == models["timed"] and body["future_minutes"] == 10
    for model_id in (models["gone"], 999_999, 2**63):
        missing = await api.get(f"/models/{model_id}")
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("application/json")
        assert missing.json()["detail"] == "model not found"


async def test_download_returns_the_exact_file_bytes(
    pool: asyncpg.Pool, models: dict[str, int], api: httpx.AsyncClient
) -> None:
    for key in ("ready", "timed"):
        path = await pool.fetchval(
            "SELECT model_file_path FROM ml_models WHERE id = $1", models[key]
        )
        response = await api.get(f"/models/{models[key]}/download")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/octet-stream"
        assert response.content == Path(path).read_bytes()


async def test_download_404_for_unknown_deleted_or_missing_file(
    models: dict[str, int], api: httpx.AsyncClient
) -> None:
    for model_id in (999_999, models["gone"], models["lost"], models["busy"]):
        response = await api.get(f"/models/{model_id}/download")
        assert response.status_code == 404, model_id
        assert "not found" in response.json()["detail"]
