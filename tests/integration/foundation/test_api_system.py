from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from ml_prediction_service.api.app import create_app
from tests.support.coin_metrics import MINIMAL_COIN_METRICS
from tests.support.http import health_status, serve_app
from tests.support.settings import service_settings

STEP_7_5_METRICS = {
    "ml_predictions_total": "counter",
    "ml_predictions_by_model_total": "counter",
    "ml_alerts_triggered_total": "counter",
    "ml_errors_total": "counter",
    "ml_active_models": "gauge",
    "ml_models_loaded": "gauge",
    "ml_coins_tracked": "gauge",
    "ml_prediction_duration_seconds": "histogram",
    "ml_feature_processing_duration_seconds": "histogram",
    "ml_model_load_duration_seconds": "histogram",
    "ml_db_connected": "gauge",
    "ml_service_uptime_seconds": "gauge",
}


@pytest.fixture
async def api(db_dsn: str, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(service_settings(tmp_path, health_check_interval_seconds=0.2), db_dsn)
    async with serve_app(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        yield client


async def test_degraded_without_coin_metrics_then_healthy_once_it_appears(
    api: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    resp = await api.get("/api/health")
    assert resp.status_code == 503
    body = resp.json()
    assert body["status"] == "degraded"
    assert body["db_connected"] is True
    assert any("coin_metrics" in r for r in body["reasons"])
    for key in ("active_models", "predictions_last_hour", "uptime_seconds", "last_error"):
        assert key in body

    await pool.execute(MINIMAL_COIN_METRICS)
    resp = await health_status(api, 200, 10)
    assert resp.status_code == 200, resp.json()
    body = resp.json()
    assert body["status"] == "healthy"
    assert body["coin_metrics_trigger"] == {"installed": True, "mode": "statement", "reason": None}
    alias = await api.get("/health")
    assert alias.status_code == 200 and alias.json()["status"] == "healthy"


async def test_metrics_lists_every_step_7_5_metric(api: httpx.AsyncClient) -> None:
    for path in ("/api/metrics", "/metrics"):
        resp = await api.get(path)
        assert resp.status_code == 200
        assert resp.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
        text = resp.text
        for name, kind in STEP_7_5_METRICS.items():
            assert f"# TYPE {name} {kind}" in text, name
    assert "ml_db_connected 1.0" in text


async def test_stats(api: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    await pool.execute(
        """
        INSERT INTO predictions (coin_id, data_timestamp, model_id, prediction, probability,
                                 prediction_duration_ms)
        VALUES ('A', now(), 1, 1, 0.9, 4), ('B', now(), 1, 0, 0.1, 6),
               ('A', now() - interval '1 minute', 1, 0, 0.2, 5)
        """
    )
    resp = await api.get("/api/stats")
    assert resp.status_code == 200
    assert resp.json() == {
        "total_predictions": 3,
        "predictions_last_hour": 3,
        "active_models": 0,
        "coins_tracked": 2,
        "avg_prediction_time_ms": 5.0,
    }


async def test_request_id_is_generated_or_echoed(api: httpx.AsyncClient) -> None:
    first = await api.get("/api/stats")
    second = await api.get("/api/stats")
    assert len(first.headers["x-request-id"]) >= 16
    assert first.headers["x-request-id"] != second.headers["x-request-id"]
    echoed = await api.get("/api/stats", headers={"X-Request-ID": "trace-42"})
    assert echoed.headers["x-request-id"] == "trace-42"
    bogus = await api.get("/api/stats", headers={"X-Request-ID": "bad id\twith spaces"})
    assert bogus.headers["x-request-id"] != "bad id\twith spaces"


async def test_errors_are_json(api: httpx.AsyncClient) -> None:
    missing = await api.get("/api/nothing-here")
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"
    assert "/api/nothing-here" in missing.json()["detail"]
    assert "x-request-id" in missing.headers
    wrong_method = await api.delete("/api/stats")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["code"] == "method_not_allowed"
    docs = await api.get("/openapi.json")
    assert docs.status_code == 200
    assert "/api/health" in docs.json()["paths"]


async def test_unhandled_error_is_json_500_with_request_id(db_dsn: str, tmp_path: Path) -> None:
    app = create_app(service_settings(tmp_path, health_check_interval_seconds=0.2), db_dsn)

    async def boom() -> None:
        raise RuntimeError("kaputt")

    app.add_api_route("/api/boom", boom)
    async with serve_app(app) as url, httpx.AsyncClient(base_url=url) as client:
        resp = await client.get("/api/boom", headers={"X-Request-ID": "rid-500"})
    assert resp.status_code == 500
    body = resp.json()
    assert body["code"] == "internal_error"
    assert "rid-500" in body["detail"]
    assert "kaputt" not in body["detail"]  # no internals leak
    assert resp.headers["x-request-id"] == "rid-500"


async def test_api_key_guards_mutating_requests_only(db_dsn: str, tmp_path: Path) -> None:
    app = create_app(
        service_settings(tmp_path, health_check_interval_seconds=0.2, api_key="s3cret"), db_dsn
    )
    async with serve_app(app) as url, httpx.AsyncClient(base_url=url) as client:
        assert (await client.get("/api/stats")).status_code == 200
        no_key = await client.post("/api/stats")
        assert no_key.status_code == 401
        assert no_key.json()["code"] == "unauthorized"
        assert "X-API-Key" in no_key.json()["detail"]
        wrong = await client.delete("/api/stats", headers={"X-API-Key": "nope"})
        assert wrong.status_code == 401
        right = await client.post("/api/stats", headers={"X-API-Key": "s3cret"})
        assert right.status_code == 405  # past the guard; the route itself is GET-only
