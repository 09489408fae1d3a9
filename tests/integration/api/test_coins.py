"""GET /api/coins/{coin_id}/metrics: a coin's coin_metrics rows for charts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest

from ml_prediction_service.api.app import create_app
from ml_prediction_service.stand_ins.ddl import create_dev_schema
from tests.support.http import serve_app
from tests.support.metrics import T0, coin_rows, insert_metrics
from tests.support.settings import service_settings


@pytest.fixture
async def api(db_dsn: str, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = service_settings(tmp_path, health_check_interval_seconds=0.5)
    async with (
        serve_app(create_app(settings, db_dsn)) as url,
        httpx.AsyncClient(base_url=url, timeout=10) as client,
    ):
        yield client


async def test_missing_table_is_a_clear_503(api: httpx.AsyncClient) -> None:
    resp = await api.get("/api/coins/ANY/metrics")
    assert resp.status_code == 503
    assert resp.json()["code"] == "coin_metrics_missing"
    assert "coin_metrics" in resp.json()["detail"]


async def test_rows_oldest_first_newest_limit_and_range(
    api: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    async with pool.acquire() as conn:
        await create_dev_schema(conn)
    rows = coin_rows("CHART", 30, seed=3)
    rows[4]["price_close"] = None
    await insert_metrics(pool, rows + coin_rows("OTHER", 5, seed=4))

    full = (await api.get("/api/coins/CHART/metrics")).json()
    assert full["coin_id"] == "CHART" and full["total"] == 30 and len(full["metrics"]) == 30
    stamps = [m["timestamp"] for m in full["metrics"]]
    assert stamps == sorted(stamps)
    first = full["metrics"][0]
    assert isinstance(first["price_close"], float)
    assert first["price_close"] == pytest.approx(rows[0]["price_close"], rel=1e-9)
    assert full["metrics"][4]["price_close"] is None
    assert first["phase_id_at_time"] == 1 and isinstance(first["num_buys"], int)

    newest = (await api.get("/api/coins/CHART/metrics", params={"limit": 5})).json()
    assert newest["total"] == 30 and newest["limit"] == 5
    assert [m["timestamp"] for m in newest["metrics"]] == stamps[-5:]

    window = (
        await api.get(
            "/api/coins/CHART/metrics",
            params={
                "from": (T0 + timedelta(seconds=10)).isoformat(),
                "to": (T0 + timedelta(seconds=30)).isoformat(),
            },
        )
    ).json()
    assert window["total"] == 5  # rows at 10, 15, 20, 25, 30 s
    assert [m["timestamp"] for m in window["metrics"]] == stamps[2:7]

    unknown = await api.get("/api/coins/NOPE/metrics")
    assert unknown.status_code == 200 and unknown.json()["metrics"] == []


async def test_bad_parameters(api: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await create_dev_schema(conn)
    inverted = await api.get(
        "/api/coins/X/metrics",
        params={"from": T0.isoformat(), "to": (T0 - timedelta(seconds=1)).isoformat()},
    )
    assert inverted.status_code == 422 and inverted.json()["code"] == "validation_error"
    too_many = await api.get("/api/coins/X/metrics", params={"limit": 100000})
    assert too_many.status_code == 422
    bad_time = await api.get("/api/coins/X/metrics", params={"from": "yesterday"})
    assert bad_time.status_code == 422 and "from" in bad_time.json()["detail"]
