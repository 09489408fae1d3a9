"""The quality monitor (evaluation/quality.py): ``ml_model_alert_precision`` per active model
over its last ALERT_PRECISION_MIN_ALERTS evaluated alerts, and health degraded while a model
is below ALERT_PRECISION_FLOOR — real service, real database, real HTTP, real models."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ml_prediction_service.evaluation.quality import QualityMonitor
from ml_prediction_service.observability.metrics import Metrics
from ml_prediction_service.tasks import cancel_all, supervise
from tests.support.http import health_status
from tests.support.models import TrainedFile
from tests.support.statistics_rows import FIXED_BASE, FIXED_SET, Row, import_model, insert_live
from tests.support.wait import eventually
from tests.support.world import World, make_world

M = timedelta(minutes=1)
QUALITY_LOGGER = "ml_prediction_service.evaluation.quality"


def logged(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    records = caplog.records
    return [r.getMessage() for r in records if r.name == QUALITY_LOGGER and r.levelno == level]


@pytest.fixture
async def floored(
    db_dsn: str, pool: asyncpg.Pool, training_url: str, tmp_path: Path
) -> AsyncIterator[World]:
    """The service with a floor of 0.7 over each model's last 3 evaluated alerts."""
    async with make_world(
        db_dsn,
        pool,
        training_url,
        tmp_path,
        alert_precision_floor=0.7,
        alert_precision_min_alerts=3,
    ) as w:
        yield w


async def gauges(api: httpx.AsyncClient) -> dict[tuple[str, str, str], float]:
    """(metric, model_id, model_name) → value of the quality gauges, from GET /metrics."""
    text = (await api.get("/metrics")).text
    out = {}
    for family in text_string_to_metric_families(text):
        if family.name.startswith("ml_model_alert_precision"):
            for s in family.samples:
                out[(s.name, s.labels["model_id"], s.labels["model_name"])] = s.value
    return out


def series(model: dict[str, Any]) -> tuple[tuple[str, str, str], tuple[str, str, str]]:
    labels = (str(model["model_id"]), model["name"])
    return ("ml_model_alert_precision", *labels), ("ml_model_alert_precision_alerts", *labels)


async def test_precision_below_the_floor_degrades_health_until_it_recovers(
    floored: World, trained: dict[str, TrainedFile], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=QUALITY_LOGGER)
    world = floored
    assert "quality-monitor" in {t.get_name() for t in world.service.tasks}
    weak = await import_model(world, trained["rf"], "rf-weak")
    young = await import_model(world, trained["xgb"], "xgb-young", model_type="xgboost")
    healthy = await health_status(world.api, 200, 30)
    assert healthy.status_code == 200, healthy.text

    # weak: its last three evaluated alerts are rows 1 (came true), 2 (did not), 6 (came
    # true) — row 5, a newer alert, is not applicable and not counted: 2 / 3
    await insert_live(world.pool, weak, FIXED_SET)
    # young: two alerts, neither came true — below the floor, but fewer than 3
    await insert_live(world.pool, young, [FIXED_SET[1], FIXED_SET[8]], coin="YOUNG")
    await world.service.quality.check_once()

    values = await gauges(world.api)
    precision, alerts = series(weak)
    assert values[precision] == pytest.approx(2 / 3)
    assert values[alerts] == 3
    precision, alerts = series(young)
    assert values[precision] == 0.0
    assert values[alerts] == 2

    resp = await world.api.get("/health")
    assert resp.status_code == 503, resp.text
    body = resp.json()
    assert body["status"] == "degraded"
    [reason] = [r for r in body["reasons"] if "ALERT_PRECISION_FLOOR" in r]
    assert f"model {weak['id']} (rf-weak)" in reason
    assert "0.667" in reason and "last 3 evaluated alerts" in reason and "0.7" in reason
    [below] = body["models_below_precision_floor"]
    assert (below["id"], below["name"], below["alerts"]) == (weak["id"], "rf-weak", 3)
    assert below["precision"] == pytest.approx(2 / 3) and below["floor"] == 0.7
    [warned] = logged(caplog, logging.WARNING)
    assert f"model {weak['id']} (rf-weak)" in warned and "below ALERT_PRECISION_FLOOR" in warned

    # the same state again: no second log line
    await world.service.quality.check_once()
    assert len(logged(caplog, logging.WARNING)) == 1

    # two newer alerts that came true: the last three all came true
    newer = [Row(0.9, 1, True, True, 9.0, -k * M) for k in (1, 2)]
    await insert_live(world.pool, weak, newer, base=FIXED_BASE)
    await world.service.quality.check_once()
    resp = await world.api.get("/health")
    assert resp.status_code == 200, resp.text
    assert resp.json()["models_below_precision_floor"] == []
    assert (await gauges(world.api))[series(weak)[0]] == 1.0
    assert any("rf-weak" in m and "no longer below" in m for m in logged(caplog, logging.INFO))

    # a deactivated model has no series
    assert (await world.api.post(f"/api/models/{weak['id']}/deactivate")).status_code == 200
    await world.service.quality.check_once()
    values = await gauges(world.api)
    assert series(weak)[0] not in values and series(young)[0] in values


async def test_no_floor_no_verdict_and_the_task_keeps_the_gauge_fresh(
    world: World, trained: dict[str, TrainedFile]
) -> None:
    """ALERT_PRECISION_FLOOR 0 (the default): the gauge, never a degraded health; and the
    supervised loop refreshes the gauge by itself."""
    model = await import_model(world, trained["rf"], "rf-nofloor")
    failing = [Row(0.8, 1, True, False, -1.0, k * M) for k in range(1, 61)]  # 60 alerts
    await insert_live(world.pool, model, failing)

    metrics = Metrics()
    monitor = QualityMonitor(world.pool, metrics, floor=0.0, min_alerts=50, interval=0.05)
    task = supervise("quality-monitor", monitor.run, metrics)
    try:

        def published() -> bool:
            return bool(monitor.precisions)

        assert await eventually(published, 10)
        labels = {"model_id": str(model["model_id"]), "model_name": "rf-nofloor"}
        assert metrics.model_alert_precision.labels(**labels)._value.get() == 0.0
        assert metrics.model_alert_precision_alerts.labels(**labels)._value.get() == 50
        assert monitor.below_floor == []

        # the next refresh sees new rows without anyone calling it
        newer = [Row(0.8, 1, True, True, 7.0, -k * M) for k in range(1, 11)]
        await insert_live(world.pool, model, newer)

        def refreshed() -> bool:
            return bool(metrics.model_alert_precision.labels(**labels)._value.get() == 0.2)

        assert await eventually(refreshed, 10)  # 10 of the last 50 came true
    finally:
        await cancel_all([task])
    assert metrics.errors_total.labels(type="task_crash")._value.get() == 0

    await world.service.quality.check_once()
    resp = await health_status(world.api, 200, 30)
    assert resp.status_code == 200, resp.text
    assert resp.json()["models_below_precision_floor"] == []


async def test_a_deactivated_model_no_longer_degrades_health(
    floored: World, trained: dict[str, TrainedFile]
) -> None:
    world = floored
    model = await import_model(world, trained["rf"], "rf-gone")
    # three alerts, none came true
    await insert_live(world.pool, model, [Row(0.8, 1, True, False, -1.0, k * M) for k in (1, 2, 3)])
    await world.service.quality.check_once()
    degraded = await health_status(world.api, 503, 10)
    assert degraded.status_code == 503, degraded.text
    assert [m["id"] for m in degraded.json()["models_below_precision_floor"]] == [model["id"]]

    # deactivated: health is ok as soon as the registry knows, before the monitor runs again
    assert (await world.api.post(f"/api/models/{model['id']}/deactivate")).status_code == 200
    healthy = await health_status(world.api, 200, 10)
    assert healthy.status_code == 200, healthy.text
    assert healthy.json()["models_below_precision_floor"] == []
    assert world.service.quality.below_floor  # the monitor's own list is from its last run


async def test_the_alert_quality_page_flags_a_model_below_the_floor(
    floored: World, trained: dict[str, TrainedFile], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The UI's Alert quality page (Streamlit AppTest, talking to this service over HTTP)
    shows /health's verdict for the model and draws the floor on its precision chart; a
    model with a horizon but nothing evaluated yet says when its first outcomes come, one with
    nothing in the window says so and still lists its older alerts."""
    from streamlit.testing.v1 import AppTest

    import ml_prediction_service.ui.app as ui_app

    weak = await import_model(floored, trained["rf"], "rf-weak")
    fresh = await import_model(floored, trained["xgb"], "xgb-fresh", model_type="xgboost")
    old = await import_model(floored, trained["rf"], "rf-old")
    await insert_live(floored.pool, old, [FIXED_SET[9]], base=datetime.now(UTC))  # 3 days
    await insert_live(floored.pool, weak, FIXED_SET, base=datetime.now(UTC))  # 2 / 3 < 0.7
    await floored.service.quality.check_once()
    monkeypatch.setenv("API_URL", str(floored.api.base_url).rstrip("/"))
    monkeypatch.setenv("API_KEY", "k")

    def page() -> AppTest:
        at = AppTest.from_file(ui_app.__file__, default_timeout=30).run()
        at.switch_page("views/quality.py").run()
        return at

    at = await asyncio.to_thread(page)  # the API answers on this loop meanwhile
    assert not at.exception, [e.value for e in at.exception]
    [banner] = [e.value for e in at.error]
    assert "Below the precision floor" in banner
    assert "66.7% over its last 3 evaluated alerts" in banner
    assert "ALERT_PRECISION_FLOOR 70.0%" in banner
    charts = [c.proto.spec for c in at.get("plotly_chart")]
    assert len(charts) == 2 and "floor 70%" in charts[1]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Alert precision"] == "50.0%"  # the last 24 h: rows 1, 2, 6, 9

    def choose_fresh() -> AppTest:
        return at.selectbox(key="quality_model").set_value(fresh["id"]).run()

    at = await asyncio.to_thread(choose_fresh)
    assert not at.exception and not at.error and not at.get("plotly_chart")
    [note] = [str(i.value) for i in at.info]
    assert note.startswith("No evaluated alerts yet"), note
    assert "future_minutes (10 min) after an alert" in note

    def choose_old() -> AppTest:
        return at.selectbox(key="quality_model").set_value(old["id"]).run()

    at = await asyncio.to_thread(choose_old)  # an alert of 3 days ago, none in the last 24 h
    [note] = [str(i.value) for i in at.info]
    assert note.startswith("No evaluated predictions in this window"), note
    [listed] = [t.value for t in at.table]
    assert list(listed["realised move"]) == ["+20.0%"] and list(listed["result"]) == ["came true"]
