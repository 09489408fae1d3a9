"""Health tells the truth: database stopped → 503 within seconds → back → 200, no restart."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import httpx
from fastapi import FastAPI

from ml_prediction_service.api.app import create_app
from ml_prediction_service.db.embedded import start_embedded, stop_embedded
from tests.support.coin_metrics import MINIMAL_COIN_METRICS
from tests.support.http import health_status, serve_app
from tests.support.settings import service_settings


async def test_health_follows_the_database(tmp_path: Path) -> None:
    # A server of its own: stopping the shared one would break other tests.
    db = await asyncio.to_thread(start_embedded, tmp_path, cleanup="delete")
    conn = await asyncpg.connect(db.dsn)
    await conn.execute(MINIMAL_COIN_METRICS)
    await conn.close()
    settings = service_settings(tmp_path, health_check_interval_seconds=0.5)
    app = create_app(settings, db.dsn)
    try:
        await _outage_round_trip(app, tmp_path)
    finally:
        await asyncio.to_thread(stop_embedded, tmp_path)


async def _outage_round_trip(app: FastAPI, tmp_path: Path) -> None:
    async with serve_app(app) as url, httpx.AsyncClient(base_url=url) as client:
        assert (await health_status(client, 200, 10)).status_code == 200

        assert await asyncio.to_thread(stop_embedded, tmp_path)
        down = await health_status(client, 503, 10)
        assert down.status_code == 503
        body = down.json()
        assert body["db_connected"] is False
        assert body["last_error"]
        metrics = await client.get("/metrics")
        assert "ml_db_connected 0.0" in metrics.text
        stats = await client.get("/api/stats")
        assert stats.status_code == 503
        assert stats.json()["code"] == "db_unavailable"

        await asyncio.to_thread(start_embedded, tmp_path, cleanup="delete")
        up = await health_status(client, 200, 15)
        assert up.status_code == 200, up.json()
        assert up.json()["db_connected"] is True
