"""The UI's pure parts: API client errors, rates, formatting, the coin figure."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from ml_prediction_service.ui.charts import coin_figure
from ml_prediction_service.ui.client import ApiClient, ApiError, ApiUnavailable
from ml_prediction_service.ui.format import (
    ago,
    fmt_ms,
    fmt_threshold,
    parse_mints,
    short_coin,
    target_text,
)
from ml_prediction_service.ui.rates import RateTracker


def client(handler: httpx.MockTransport | None = None, key: str = "") -> ApiClient:
    return ApiClient("http://api.test", key, transport=handler)


def test_client_sends_the_key_and_maps_errors() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/api/health":
            return httpx.Response(503, json={"status": "degraded", "reasons": ["x"]})
        if request.url.path == "/api/models/7/activate":
            return httpx.Response(
                404, json={"detail": "no imported model with id 7", "code": "not_found"}
            )
        if request.url.path == "/api/stats":
            return httpx.Response(502, text="<html>bad gateway</html>")
        return httpx.Response(200, json={"models": [], "total": 0})

    api = client(httpx.MockTransport(handle), key="secret")
    assert api.health()["status"] == "degraded"  # 503 with a body is an answer
    assert api.models() == []
    with pytest.raises(ApiError) as refused:
        api.activate(7)
    assert (refused.value.status, refused.value.code) == (404, "not_found")
    assert "no imported model" in refused.value.detail
    with pytest.raises(ApiError) as gateway:
        api.stats()
    assert gateway.value.status == 502 and not isinstance(gateway.value, ApiUnavailable)
    assert all(r.headers["X-API-Key"] == "secret" for r in seen)
    api.coin_metrics("a/b c")
    assert seen[-1].url.raw_path.startswith(b"/api/coins/a%2Fb%20c/metrics")


def test_client_without_key_and_unreachable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        assert "X-API-Key" not in request.headers
        raise httpx.ConnectError("connection refused")

    with pytest.raises(ApiUnavailable) as down:
        client(httpx.MockTransport(refuse)).health()
    assert "connection refused" in down.value.reason
    assert "http://api.test" in str(down.value)


def test_client_bodies_of_the_alert_settings_and_resends() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"requeued": 0, "ids": []})

    api = client(httpx.MockTransport(handle))
    since = datetime(2026, 1, 1, 12, tzinfo=UTC)
    api.retry_deliveries(["failed"], since=since)
    api.retry_deliveries(["failed", "expired"])
    api.retry_delivery(7)
    api.set_ignore_windows(3, alert=600, positive=0, negative=60)
    api.set_coin_filter(3, "whitelist", ["a", "b"])
    api.deliveries(status="failed", limit=5)
    bodies = [json.loads(r.content) if r.content else None for r in seen]
    assert bodies[:2] == [
        {"status": ["failed"], "from": "2026-01-01T12:00:00+00:00"},
        {"status": ["failed", "expired"]},
    ]
    assert (seen[2].method, seen[2].url.path) == ("POST", "/api/webhooks/outbox/7/retry")
    assert bodies[3] == {"alert": 600, "positive": 0, "negative": 60}
    assert seen[3].url.path == "/api/models/3/ignore-windows"
    assert bodies[4] == {"mode": "whitelist", "coins": ["a", "b"]}
    assert seen[5].url.params["status"] == "failed" and seen[5].url.params["limit"] == "5"


def test_rate_tracker() -> None:
    tracker = RateTracker(window_seconds=100, min_interval_seconds=1)
    assert tracker.current() is None
    tracker.add(0, 0, 0)
    tracker.add(0.5, 5, 5)  # too soon: ignored
    tracker.add(10, 100, 400)
    tracker.add(20, 300, 600)
    now = tracker.current(60)
    assert now is not None
    assert now.events_per_second == pytest.approx(15) and now.predictions_per_second == 30
    assert [p.events_per_second for p in tracker.series()] == [10, 20]
    tracker.add(30, 5, 5)  # the API restarted: counters went down
    assert tracker.current() is None and len(tracker.samples()) == 1
    tracker.add(200, 10, 10)  # the sample at 30 s is out of the window
    assert [s.at for s in tracker.samples()] == [200]


def test_formatting() -> None:
    rule = {"target_variable": "market_cap_close", "target_operator": ">", "target_value": 100.0}
    assert target_text(rule) == "market_cap_close > 100"
    time_based = {
        "target_variable": "price_close",
        "future_minutes": 10,
        "price_change_percent": 20.0,
        "target_direction": "up",
    }
    assert target_text(time_based) == "price_close up ≥20% within 10 min"
    assert fmt_threshold(0.7) == "70%" and fmt_threshold(0.725) == "72.5%"
    now = datetime(2026, 1, 1, 12, tzinfo=UTC)
    assert ago((now - timedelta(seconds=42)).isoformat(), now) == "42 s ago"
    assert ago((now + timedelta(hours=2)).isoformat(), now) == "in 2 h"
    assert ago(None) == "never"
    assert short_coin("ABCDEFGHIJKLMNOPQRSTUVWXYZpump") == "ABCDEF…pump"
    assert [fmt_ms(v) for v in (None, 85.4, 1234, 125_000)] == ["–", "85 ms", "1.2 s", "2 min"]
    assert parse_mints(" a, b\n\nc,,a\n b ") == ["a", "b", "c"]
    assert parse_mints("") == []


def test_coin_figure_traces_alerts_and_thresholds() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    metrics = [
        {"timestamp": (t0 + timedelta(seconds=5 * i)).isoformat(), "price_close": 1e-8 * (i + 1)}
        for i in range(5)
    ]
    preds = [
        {
            "active_model_id": mid,
            "data_timestamp": m["timestamp"],
            "probability": 0.2 * i,
            "is_alert": 0.2 * i >= 0.5,
            "model_name": f"m{mid}",
        }
        for mid in (1, 2)
        for i, m in enumerate(metrics)
    ]
    models = [
        {"id": 1, "name": "one", "alert_threshold": 0.5},
        {"id": 2, "name": "two", "alert_threshold": 0.5},
    ]
    fig = coin_figure(metrics, preds, models)
    names = [t.name for t in fig.data]
    assert names[0] == "price_close (SOL)"
    assert {"P(one)", "P(two)", "alert: one", "alert: two", "alert"} <= set(names)
    alert_one = next(t for t in fig.data if t.name == "alert: one")
    assert list(alert_one.y) == pytest.approx([0.6, 0.8])
    lines = [s for s in fig.layout.shapes if s.yref == "y2"]
    assert len(lines) == 1 and lines[0].y0 == 0.5  # one line for the shared threshold
    assert "2 models" in fig.layout.annotations[0].text
    assert fig.layout.yaxis.type == "log"
