"""Live model quality (docs/evaluation.md): the statistics of a small fixed set of evaluation
rows (tests/support/statistics_rows.py) against numbers worked out by hand, through the real
API on a real database, with real imported models."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from ml_prediction_service.evaluation import statistics
from tests.support.models import TrainedFile
from tests.support.statistics_rows import (
    FIXED_SET,
    import_model,
    insert_live,
    insert_replay,
)
from tests.support.world import World

# By hand from FIXED_SET (rows 5 and 12 are not_applicable; numbers are the rows'):
# evaluated rows 1-4, 6-11; alerts 1, 2, 6, 9, 10 of which 1, 6, 10 came true;
# positives 1, 2, 6, 7, 9, 10 of which 1, 6, 7, 10 hit; targets hit 1, 4, 6, 7, 10;
# successes 1, 3, 6, 7, 8, 10, 11; moves after the alerts 8, 1, 12, -3, 20.
ALL_TIME = {
    "evaluated": 10,
    "not_applicable": 2,
    "alerts": 5,
    "alerts_true": 3,
    "alert_precision": 0.6,
    "positives": 6,
    "positives_hit": 4,
    "positive_hit_rate": 4 / 6,
    "targets_hit": 5,
    "base_rate": 0.5,
    "mean_move_after_alert": 7.6,
    "successes": 7,
    "accuracy": 0.7,
}
# (count, mean probability, observed frequency) per decile; 0.2 (row 12) and 0.88 (row 5)
# are not applicable, 1.0 falls in the last bin, 0.1 and 0.7 open theirs
ALL_TIME_BINS = [
    (1, 0.05, 1.0),
    (1, 0.10, 0.0),
    (0, None, None),
    (1, 0.30, 0.0),
    (1, 0.45, 0.0),
    (0, None, None),
    (1, 0.60, 1.0),
    (2, 0.725, 0.5),
    (1, 0.82, 0.0),
    (2, 0.975, 1.0),
]
# Per day (FIXED_BASE 2024-03-05 12:00): rows 10, 11 on 03-02; rows 1-4, 6-9 on 03-05
ALL_TIME_DAYS = [
    ("2024-03-02T00:00:00+00:00", 2, 1, 1, 1.0),
    ("2024-03-05T00:00:00+00:00", 8, 4, 2, 0.5),
]
# The last hour: rows 1-4 (5 n/a); the last day: rows 1-4, 6-9 (5 n/a)
LAST_HOUR = {
    "evaluated": 4,
    "not_applicable": 1,
    "alerts": 2,
    "alerts_true": 1,
    "alert_precision": 0.5,
    "positives": 2,
    "positives_hit": 1,
    "positive_hit_rate": 0.5,
    "targets_hit": 2,
    "base_rate": 0.5,
    "mean_move_after_alert": 4.5,
    "successes": 2,
    "accuracy": 0.5,
}
LAST_DAY = {
    "evaluated": 8,
    "not_applicable": 1,
    "alerts": 4,
    "alerts_true": 2,
    "alert_precision": 0.5,
    "positives": 5,
    "positives_hit": 3,
    "positive_hit_rate": 0.6,
    "targets_hit": 4,
    "base_rate": 0.5,
    "mean_move_after_alert": 4.5,
    "successes": 5,
    "accuracy": 0.625,
}


def assert_figures(body: dict[str, Any], expected: dict[str, Any]) -> None:
    for key, want in expected.items():
        assert body[key] == pytest.approx(want), key


def bins(body: dict[str, Any]) -> list[tuple[int, float | None, float | None]]:
    return [
        (b["count"], b["mean_probability"], b["observed_frequency"]) for b in body["calibration"]
    ]


def assert_bins(body: dict[str, Any], expected: list[tuple[int, Any, Any]]) -> None:
    got = bins(body)
    assert [g[0] for g in got] == [e[0] for e in expected]
    for g, e in zip(got, expected, strict=True):
        assert g[1] == (pytest.approx(e[1]) if e[1] is not None else None)
        assert g[2] == (pytest.approx(e[2]) if e[2] is not None else None)
    assert sum(g[0] for g in got) == body["evaluated"]
    edges = [(b["lower"], b["upper"]) for b in body["calibration"]]
    assert edges == [(pytest.approx(k / 10), pytest.approx((k + 1) / 10)) for k in range(10)]


async def test_statistics_equal_a_hand_computation(
    world: World, trained: dict[str, TrainedFile]
) -> None:
    model = await import_model(world, trained["rf"], "rf-time", training_precision=0.77)
    other = await import_model(world, trained["xgb"], "xgb-time", model_type="xgboost")
    await insert_live(world.pool, model, FIXED_SET)
    # another model's rows are not this model's
    await insert_live(world.pool, other, FIXED_SET[:3], coin="OTHER")

    resp = await world.api.get(f"/api/models/{model['id']}/statistics", params={"window": "all"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["evaluable"] is True and body["reason"] is None
    assert (body["source"], body["window"], body["bucket"]) == ("live", "all", "day")
    assert_figures(body, ALL_TIME)
    assert_bins(body, ALL_TIME_BINS)
    days = [
        (p["start"], p["evaluated"], p["alerts"], p["alerts_true"], p["precision"])
        for p in body["precision_over_time"]
    ]
    assert [d[1:4] for d in days] == [d[1:4] for d in ALL_TIME_DAYS]
    assert [datetime.fromisoformat(d[0]) for d in days] == [
        datetime.fromisoformat(d[0]) for d in ALL_TIME_DAYS
    ]
    assert [d[4] for d in days] == [pytest.approx(d[4]) for d in ALL_TIME_DAYS]
    # the model's label and decision, and what training measured, beside the figures
    assert body["alert_threshold"] == pytest.approx(0.7)
    assert (body["future_minutes"], body["target_direction"]) == (10, "up")
    assert body["price_change_percent"] == pytest.approx(5.0)
    training = body["training_metrics"]
    assert training["training_precision"] == pytest.approx(0.77)
    assert training["training_accuracy"] == pytest.approx(0.81)
    assert "feature_importance" not in training
    # confusion matrix of tests/support/models.py: tp 10, tn 20, fp 3, fn 4 → 14 / 37
    assert body["training_base_rate"] == pytest.approx(14 / 37)

    # the other model: its three rows only (1, 2, 3: alerts 1, 2; hit 1)
    resp = await world.api.get(f"/api/models/{other['id']}/statistics")
    assert_figures(resp.json(), {"evaluated": 3, "alerts": 2, "alerts_true": 1, "base_rate": 1 / 3})


async def test_windows_filter_by_data_time(world: World, trained: dict[str, TrainedFile]) -> None:
    model = await import_model(world, trained["rf"], "rf-windows")
    await insert_live(world.pool, model, FIXED_SET, base=datetime.now(UTC))

    expected = {"1h": LAST_HOUR, "24h": LAST_DAY, "all": ALL_TIME}
    for window, figures in expected.items():
        resp = await world.api.get(
            f"/api/models/{model['id']}/statistics", params={"window": window}
        )
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["window"] == window
        assert_figures(body, figures)
        assert sum(b["count"] for b in body["calibration"]) == figures["evaluated"]
        over_time = body["precision_over_time"]
        assert body["bucket"] == ("day" if window == "all" else "hour")
        assert sum(p["alerts"] for p in over_time) == figures["alerts"]
        assert sum(p["alerts_true"] for p in over_time) == figures["alerts_true"]
        assert sum(p["evaluated"] for p in over_time) == figures["evaluated"]
        starts = [datetime.fromisoformat(p["start"]) for p in over_time]
        assert starts == sorted(starts)
        for start in starts:  # the start of an hour (1h, 24h) or of a day (all), UTC
            assert start.utcoffset() is not None and not start.utcoffset()
            assert (start.minute, start.second, start.microsecond) == (0, 0, 0)
            assert window != "all" or start.hour == 0
    # the last hour holds rows 1-4 only: one or two clock hours, depending on now
    resp = await world.api.get(f"/api/models/{model['id']}/statistics", params={"window": "1h"})
    assert 1 <= len(resp.json()["precision_over_time"]) <= 2


async def test_replay_rows_are_a_source_of_their_own(
    world: World, trained: dict[str, TrainedFile]
) -> None:
    model = await import_model(world, trained["rf"], "rf-replay")
    replay_id = await insert_replay(world.pool, model["id"], FIXED_SET)
    other_replay = await insert_replay(world.pool, model["id"], FIXED_SET[:4])
    await insert_live(world.pool, model, FIXED_SET[5:9])  # live rows 6-9: not the replay's

    found = await statistics.model_statistics(world.pool, replay_id=replay_id, bucket="hour")
    body = found.to_dict()
    assert (body["source"], body["replay_id"], body["active_model_id"]) == (
        "replay",
        replay_id,
        model["id"],
    )
    assert_figures(body, ALL_TIME)
    assert_bins(body, ALL_TIME_BINS)
    # per hour (FIXED_BASE 12:00): 03-02 11:00 row 11, 12:00 row 10; 03-05 06:00 row 9,
    # 07:00 row 8, 08:00 row 7, 09:00 row 6, 11:00 rows 1-4
    hours = [
        (p["start"], p["evaluated"], p["alerts"], p["alerts_true"], p["precision"])
        for p in body["precision_over_time"]
    ]
    assert hours == [
        ("2024-03-02T11:00:00+00:00", 1, 0, 0, None),
        ("2024-03-02T12:00:00+00:00", 1, 1, 1, 1.0),
        ("2024-03-05T06:00:00+00:00", 1, 1, 0, 0.0),
        ("2024-03-05T07:00:00+00:00", 1, 0, 0, None),
        ("2024-03-05T08:00:00+00:00", 1, 0, 0, None),
        ("2024-03-05T09:00:00+00:00", 1, 1, 1, 1.0),
        ("2024-03-05T11:00:00+00:00", 4, 2, 1, 0.5),
    ]

    # rows 1-4 of the other replay: alerts 1, 2 (1 hit); targets hit 1, 4
    second = (await statistics.model_statistics(world.pool, replay_id=other_replay)).to_dict()
    assert_figures(second, {"evaluated": 4, "alerts": 2, "alerts_true": 1, "base_rate": 0.5})
    # the live rows 6-9: alerts 6, 9 (6 hit)
    live = (await statistics.model_statistics(world.pool, active_model_id=model["id"])).to_dict()
    assert_figures(live, {"evaluated": 4, "alerts": 2, "alerts_true": 1, "not_applicable": 0})

    with pytest.raises(Exception, match="no replay with id"):
        await statistics.model_statistics(world.pool, replay_id=replay_id + 100)
    with pytest.raises(Exception, match="window must be 'all'"):
        await statistics.model_statistics(world.pool, replay_id=replay_id, window="1h")


async def test_a_model_without_horizon_is_not_evaluable(
    world: World, trained: dict[str, TrainedFile]
) -> None:
    model = await import_model(world, trained["rf"], "rf-rule", time_based=False)
    assert model["future_minutes"] is None and model["target_operator"] == ">"
    resp = await world.api.get(f"/api/models/{model['id']}/statistics", params={"window": "24h"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["evaluable"] is False
    assert "nowcast" in body["reason"] and "rule-based" in body["reason"]
    assert body["evaluated"] == 0 and body["alert_precision"] is None
    assert [b["count"] for b in body["calibration"]] == [0] * 10
    assert body["precision_over_time"] == []


async def test_all_models_side_by_side(world: World, trained: dict[str, TrainedFile]) -> None:
    model = await import_model(world, trained["rf"], "rf-side", training_precision=0.77)
    quiet = await import_model(world, trained["xgb"], "xgb-quiet", model_type="xgboost")
    rule = await import_model(world, trained["rf_other"], "rf-side-rule", time_based=False)
    await insert_live(world.pool, model, FIXED_SET, base=datetime.now(UTC))
    resp = await world.api.post(f"/api/models/{quiet['id']}/deactivate")
    assert resp.status_code == 200, resp.text

    resp = await world.api.get("/api/alerts/statistics", params={"window": "24h"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["window"] == "24h"
    rows = {r["active_model_id"]: r for r in body["models"]}
    assert list(rows) == sorted([model["id"], quiet["id"], rule["id"]])
    side = rows[model["id"]]
    assert_figures(
        side,
        {
            k: LAST_DAY[k]
            for k in ("evaluated", "alerts", "alert_precision", "base_rate", "accuracy")
        },
    )
    assert side["mean_move_after_alert"] == pytest.approx(LAST_DAY["mean_move_after_alert"])
    assert side["training_precision"] == pytest.approx(0.77)
    assert side["training_base_rate"] == pytest.approx(14 / 37)
    assert side["is_active"] is True and side["evaluable"] is True
    assert rows[quiet["id"]]["is_active"] is False
    assert rows[quiet["id"]]["evaluated"] == 0 and rows[quiet["id"]]["alert_precision"] is None
    assert rows[quiet["id"]]["training_precision"] is None  # none in its ml_models row
    assert rows[rule["id"]]["evaluable"] is False and "nowcast" in rows[rule["id"]]["reason"]
    # the same model's figures as its own statistics say
    own = (await world.api.get(f"/api/models/{model['id']}/statistics?window=24h")).json()
    for key in ("evaluated", "not_applicable", "alerts", "alerts_true", "alert_precision"):
        assert side[key] == own[key], key


async def test_unknown_model_and_bad_window_are_json_errors(
    world: World, trained: dict[str, TrainedFile]
) -> None:
    model = await import_model(world, trained["rf"], "rf-errors")
    resp = await world.api.get("/api/models/987654321/statistics")
    assert resp.status_code == 404
    assert resp.json()["code"] == "not_found"
    assert "987654321" in resp.json()["detail"]

    for path in (f"/api/models/{model['id']}/statistics", "/api/alerts/statistics"):
        resp = await world.api.get(path, params={"window": "2h"})
        assert resp.status_code == 422, resp.text
        err = resp.json()
        assert err["code"] == "validation_error"
        assert "window" in err["detail"] and "'1h', '24h' or 'all'" in err["detail"]

    openapi = (await world.api.get("/openapi.json")).json()
    assert "/api/models/{active_model_id}/statistics" in openapi["paths"]
    assert "/api/alerts/statistics" in openapi["paths"]
