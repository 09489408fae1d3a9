"""The UI's pure parts: API client errors, rates, formatting, the coin figure."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from ml_prediction_service.ui.charts import (
    OUTCOME_COLORS,
    calibration_figure,
    coin_figure,
    precision_figure,
)
from ml_prediction_service.ui.client import ApiClient, ApiError, ApiUnavailable
from ml_prediction_service.ui.format import (
    ago,
    fmt_ms,
    fmt_threshold,
    parse_mints,
    short_coin,
    target_text,
)
from ml_prediction_service.ui.outcomes import (
    alert_rows,
    by_prediction,
    floor_entry,
    outcome,
    quality_rows,
    reasons_text,
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
    assert {"P(one)", "P(two)", "alert: one", "alert: two", "alert not evaluated (yet)"} <= set(
        names
    )
    alert_one = next(t for t in fig.data if t.name == "alert: one")
    assert list(alert_one.y) == pytest.approx([0.6, 0.8])
    assert list(alert_one.marker.color) == [OUTCOME_COLORS["pending"]] * 2
    lines = [s for s in fig.layout.shapes if s.yref == "y2"]
    assert len(lines) == 1 and lines[0].y0 == 0.5  # one line for the shared threshold
    assert "2 models" in fig.layout.annotations[0].text
    assert fig.layout.yaxis.type == "log"


def evaluation(pid: int, hit: bool | None, move: float | None, **extra: object) -> dict:
    result = "not_applicable" if hit is None else ("success" if hit else "failed")
    return {
        "prediction_id": pid,
        "coin_id": "CoinAAAAAAAAAAAAAAAAAAAAAApump",
        "data_timestamp": "2026-01-01T00:00:05+00:00",
        "probability": 0.9,
        "realised_change_pct": move,
        "max_change_pct": None if move is None else move + 2,
        "min_change_pct": None if move is None else move - 3,
        "target_hit": hit,
        "result": result,
        "note": None,
        **extra,
    }


def test_coin_figure_marks_alerts_by_outcome_with_reasons() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    stamps = [(t0 + timedelta(seconds=5 * i)).isoformat() for i in range(4)]
    metrics = [{"timestamp": t, "price_close": 1e-8} for t in stamps]
    reasons = [{"feature": "volume_sol", "contribution": 0.21, "value": 12.5}]
    preds = [
        {
            "id": 10 + i,
            "active_model_id": 1,
            "data_timestamp": t,
            "probability": 0.9,
            "is_alert": True,
            "reasons": reasons,
        }
        for i, t in enumerate(stamps)
    ]
    found = by_prediction(
        [evaluation(10, True, 8.0), evaluation(11, False, -2.5), evaluation(12, None, None)]
    )
    fig = coin_figure(
        metrics, preds, [{"id": 1, "name": "one", "alert_threshold": 0.7}], evaluations=found
    )
    alerts = next(t for t in fig.data if t.name == "alert: one")
    green, red, grey = (OUTCOME_COLORS[k] for k in ("came_true", "not_true", "pending"))
    assert list(alerts.marker.color) == [green, red, grey, grey]  # 13: no evaluation yet
    assert "came true" in alerts.hovertext[0] and "+8.0%" in alerts.hovertext[0]
    assert "high +10.0%, low +5.0%" in alerts.hovertext[0]
    assert "did not come true" in alerts.hovertext[1] and "-2.5%" in alerts.hovertext[1]
    assert "not evaluable" in alerts.hovertext[2]
    assert "not evaluated yet" in alerts.hovertext[3]
    assert all("volume_sol = 12.5 (+0.21)" in h for h in alerts.hovertext)
    legend = {t.name for t in fig.data if t.x == (None,)}
    assert legend == {"alert came true", "alert did not come true", "alert not evaluated (yet)"}
    # a model without a horizon: its alerts are not evaluable rather than pending
    nowcast = {"id": 1, "name": "one", "alert_threshold": 0.7, "future_minutes": None}
    fig = coin_figure(metrics, preds[3:], [nowcast], evaluations=found)
    alerts = next(t for t in fig.data if t.name == "alert: one")
    assert list(alerts.marker.color) == [grey] and "not evaluable" in alerts.hovertext[0]
    assert "no horizon: a nowcast" in alerts.hovertext[0]


def test_outcomes_and_quality_rows() -> None:
    assert outcome(None) == "pending"
    assert outcome({"result": "pending", "horizon_at": "…"}) == "pending"
    assert outcome(evaluation(1, None, None)) == "not_applicable"
    assert outcome(evaluation(1, True, 8.0)) == "came_true"
    # an alert is judged by its target, not by result (a 0-prediction alert that hit "failed")
    assert outcome(evaluation(1, True, 8.0, result="failed")) == "came_true"
    assert outcome(evaluation(1, False, 1.0)) == "not_true"
    rows = alert_rows([evaluation(7, False, -2.5, note="no rows after x")])
    assert rows == [
        {
            "coin": "CoinAA…pump",
            "data time (UTC)": "2026-01-01 00:00:05",
            "probability": "90.0%",
            "realised move": "-2.5%",
            "window high": "-0.5%",
            "window low": "-5.5%",
            "result": "did not come true",
            "note": "no rows after x",
        }
    ]
    summary = {
        "name": "m",
        "is_active": True,
        "evaluable": True,
        "reason": None,
        "future_minutes": 10,
        "evaluated": 8,
        "not_applicable": 1,
        "alerts": 4,
        "alerts_true": 3,
        "alert_precision": 0.75,
        "positive_hit_rate": 0.6,
        "base_rate": 0.25,
        "mean_move_after_alert": 4.5,
        "accuracy": 0.5,
        "training_precision": None,
        "training_base_rate": 0.2,
    }
    rule = {
        **summary,
        "name": "r",
        "evaluable": False,
        "reason": "rule-based model without a horizon",
        "future_minutes": None,
        "alert_precision": None,
    }
    live, nowcast = quality_rows([summary, rule])
    assert (live["alert precision"], live["training precision"], live["horizon"]) == (
        0.75,
        None,
        "10 min",
    )
    assert (live["came true"], live["mean move after alert"], live["note"]) == (3, 4.5, "")
    assert (nowcast["horizon"], nowcast["note"]) == ("none", "rule-based model without a horizon")
    health = {
        "models_below_precision_floor": [
            {"id": 5, "name": "m", "precision": 0.1, "alerts": 50, "floor": 0.3}
        ]
    }
    assert floor_entry(health, 5) == health["models_below_precision_floor"][0]
    assert floor_entry(health, 6) is None and floor_entry({}, 5) is None
    assert reasons_text(None) == "no reasons stored"


def test_calibration_and_precision_figures() -> None:
    bins = [
        {
            "lower": k / 10,
            "upper": (k + 1) / 10,
            "count": c,
            "mean_probability": m,
            "observed_frequency": o,
        }
        for k, (c, m, o) in enumerate([(0, None, None)] * 8 + [(4, 0.85, 0.5), (2, 0.95, 1.0)])
    ]
    fig = calibration_figure(bins)
    diagonal, observed = fig.data
    assert (list(diagonal.x), list(diagonal.y)) == ([0, 1], [0, 1])
    assert list(observed.x) == [0.85, 0.95] and list(observed.y) == [0.5, 1.0]
    assert list(observed.text) == ["n=4", "n=2"]  # empty deciles are left out
    points = [
        {
            "start": "2026-01-01T00:00:00+00:00",
            "evaluated": 5,
            "alerts": 2,
            "alerts_true": 1,
            "precision": 0.5,
        },
        {
            "start": "2026-01-01T01:00:00+00:00",
            "evaluated": 3,
            "alerts": 0,
            "alerts_true": 0,
            "precision": None,
        },
    ]
    fig = precision_figure(points, floor=0.3)
    bars, line = fig.data
    assert list(bars.y) == [2, 0] and list(line.y) == [0.5, None]
    assert fig.layout.shapes[0].y0 == 0.3 and "floor 30%" in fig.layout.annotations[0].text
    assert not precision_figure(points).layout.shapes
