"""Every way an import can fail gives a precise error and leaves nothing behind."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from ml_prediction_service.api.app import create_app
from tests.support.http import free_port, serve_app
from tests.support.models import TrainedFile, insert_ml_model
from tests.support.settings import service_settings
from tests.support.world import World


async def assert_nothing_left(world: World) -> None:
    assert await world.pool.fetchval("SELECT count(*) FROM prediction_active_models") == 0
    leftovers = list(world.models_dir.iterdir()) if world.models_dir.exists() else []
    assert leftovers == []
    assert world.service.registry.models == {}


@pytest.mark.parametrize(
    ("file_key", "model_type", "features", "status", "code", "fragment"),
    [
        ("corrupt", "random_forest", None, 422, "invalid_model_file", "corrupt or truncated"),
        ("html", "random_forest", None, 422, "invalid_model_file", "HTML"),
        ("logreg", "random_forest", None, 422, "invalid_model_file", "LogisticRegression"),
        ("xgb", "random_forest", None, 422, "invalid_model_file", "model_type is 'random_forest'"),
        ("rf_narrow", "random_forest", None, 422, "feature_count_mismatch", "3"),
        (
            "rf",
            "random_forest",
            [
                "price_close",
                "volume_sol",
                "moon_factor",
                "buy_pressure_ratio",
                "unique_signer_ratio",
                "market_cap_close",
                "num_buys",
                "price_change_5",
                "volume_ratio_10",
                "dev_sold_cumsum",
            ],
            422,
            "unknown_features",
            "moon_factor",
        ),
    ],
)
async def test_bad_model_files_are_refused(
    world: World,
    trained: dict[str, TrainedFile],
    file_key: str,
    model_type: str,
    features: list[str] | None,
    status: int,
    code: str,
    fragment: str,
) -> None:
    async with world.pool.acquire() as conn:
        model_id = await insert_ml_model(
            conn,
            name=f"bad-{file_key}",
            path=trained[file_key].path,
            model_type=model_type,
            features=features,
        )
    resp = await world.api.post("/api/models/import", json={"model_id": model_id})
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["code"] == code, body
    assert fragment in body["detail"], body
    await assert_nothing_left(world)


async def test_missing_file_at_the_training_service(world: World, tmp_path: Path) -> None:
    async with world.pool.acquire() as conn:
        model_id = await insert_ml_model(conn, name="nofile", path=tmp_path / "missing.joblib")
    resp = await world.api.post("/api/models/import", json={"model_id": model_id})
    assert resp.status_code == 404
    assert resp.json()["code"] == "model_file_not_found"
    await assert_nothing_left(world)


async def test_not_ready_and_deleted(world: World, trained: dict[str, TrainedFile]) -> None:
    async with world.pool.acquire() as conn:
        training = await insert_ml_model(conn, name="t", path=trained["rf"].path, status="TRAINING")
        deleted = await insert_ml_model(conn, name="d", path=trained["rf"].path, is_deleted=True)
    resp = await world.api.post("/api/models/import", json={"model_id": training})
    assert resp.status_code == 409 and resp.json()["code"] == "model_not_ready"
    resp = await world.api.post("/api/models/import", json={"model_id": deleted})
    assert resp.status_code == 404 and "deleted" in resp.json()["detail"]
    bad = await world.api.post("/api/models/import", json={"model_id": "x"})
    assert bad.status_code == 422
    await assert_nothing_left(world)


async def test_training_service_down(
    db_dsn: str,
    pool: object,
    training_url: str,
    trained: dict[str, TrainedFile],
    tmp_path: Path,
) -> None:
    import asyncpg

    assert isinstance(pool, asyncpg.Pool)
    async with pool.acquire() as conn:
        model_id = await insert_ml_model(conn, name="m", path=trained["rf"].path)
    dead = f"http://127.0.0.1:{free_port()}/api"
    settings = service_settings(tmp_path, training_url=dead)
    async with (
        serve_app(create_app(settings, db_dsn)) as url,
        httpx.AsyncClient(base_url=url) as client,
    ):
        resp = await client.post("/api/models/import", json={"model_id": model_id})
    assert resp.status_code == 502
    assert resp.json()["code"] == "training_service_unavailable"
    assert "not reachable" in resp.json()["detail"]
    assert await pool.fetchval("SELECT count(*) FROM prediction_active_models") == 0
    assert not any((tmp_path / "models").glob("*")) if (tmp_path / "models").exists() else True


@contextlib.asynccontextmanager
async def truncating_server(data: bytes, claimed: int) -> AsyncIterator[str]:
    """A raw HTTP server that promises ``claimed`` bytes and sends fewer, then hangs up."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\n"
            + f"content-length: {claimed}\r\n\r\n".encode()
            + data
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/api"
    finally:
        server.close()
        await server.wait_closed()


async def test_truncated_download(
    db_dsn: str,
    pool: object,
    training_url: str,
    trained: dict[str, TrainedFile],
    tmp_path: Path,
) -> None:
    import asyncpg

    assert isinstance(pool, asyncpg.Pool)
    async with pool.acquire() as conn:
        model_id = await insert_ml_model(conn, name="m", path=trained["rf"].path)
    data = trained["rf"].path.read_bytes()
    async with truncating_server(data[: len(data) // 2], len(data)) as base:
        settings = service_settings(tmp_path, training_url=base)
        async with (
            serve_app(create_app(settings, db_dsn)) as url,
            httpx.AsyncClient(base_url=url) as client,
        ):
            resp = await client.post("/api/models/import", json={"model_id": model_id})
    assert resp.status_code == 502, resp.text
    assert resp.json()["code"] == "download_failed"
    assert "truncated" in resp.json()["detail"]
    assert await pool.fetchval("SELECT count(*) FROM prediction_active_models") == 0
    models_dir = tmp_path / "models"
    assert not models_dir.exists() or list(models_dir.iterdir()) == []
