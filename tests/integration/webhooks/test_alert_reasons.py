"""A reason with every alert: the features that pushed the probability up most, stored in
predictions.reasons, sent in the webhook payload to a real HTTP receiver and returned by the
API; nothing for other predictions or with ALERT_REASONS=0; a model whose explanation fails
still stores (and sends) its predictions. Real PostgreSQL, real models, real receiver."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import joblib
import jsonschema
import pytest

from ml_prediction_service.demo.receiver import ReceiverStats, receiver_app
from ml_prediction_service.models.explain import explainer, top_reasons
from tests.support.expected import expected_input
from tests.support.http import serve_app
from tests.support.metrics import coin_rows, insert_metrics, newest
from tests.support.models import TrainedFile, insert_ml_model
from tests.support.wait import eventually
from tests.support.webhooks import FAST_RETRY, hooked_world, import_two
from tests.support.world import World, count_predictions, make_world

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[3] / "docs" / "webhook-payload.schema.json").read_text()
)
COINS = ("WHY1", "WHY2")


async def _configure(world: World, model: dict[str, Any], threshold: float) -> None:
    resp = await world.api.patch(
        f"/api/models/{model['id']}/alert-threshold", json={"alert_threshold": threshold}
    )
    assert resp.status_code == 200, resp.text
    resp = await world.api.patch(f"/api/models/{model['id']}/webhook", json={"send_mode": ["all"]})
    assert resp.status_code == 200, resp.text


async def _feed(world: World, models: int) -> datetime:
    """Rows for COINS; waits until each coin's newest snapshot is predicted by every model."""
    rows = [r for i, c in enumerate(COINS) for r in coin_rows(c, 20, seed=40 + i)]
    await insert_metrics(world.pool, rows)
    last = newest(rows)

    async def predicted() -> bool:
        n = await count_predictions(world.pool, "data_timestamp = $1", last)
        return n == len(COINS) * models

    assert await eventually(predicted)
    return last


async def _delivered(
    receiver: ReceiverStats, last: datetime, models: int
) -> dict[tuple[str, int], dict[str, Any]]:
    """(coin, active model id) -> the prediction item sent for the coin's newest snapshot."""

    def items() -> dict[tuple[str, int], dict[str, Any]]:
        out = {}
        for request in receiver.requests:
            body = request.json
            if datetime.fromisoformat(body["timestamp"]) == last:
                jsonschema.validate(body, SCHEMA)
                for p in body["predictions"]:
                    out[(body["coin_id"], p["model"]["active_model_id"])] = p
        return out

    async def arrived() -> bool:
        return len(items()) == len(COINS) * models

    assert await eventually(arrived), receiver.requests
    return items()


async def _stored(pool: asyncpg.Pool, last: datetime) -> dict[tuple[str, int], asyncpg.Record]:
    rows = await pool.fetch(
        "SELECT id, coin_id, active_model_id, is_alert, probability, reasons FROM predictions "
        "WHERE data_timestamp = $1",
        last,
    )
    return {(r["coin_id"], r["active_model_id"]): r for r in rows}


async def test_alerts_name_their_top_features_in_the_payload_the_table_and_the_api(
    db_dsn: str, pool: asyncpg.Pool, training_url: str, tmp_path: Path, trained: Any
) -> None:
    receiver = ReceiverStats(record=True)
    async with hooked_world(db_dsn, pool, training_url, tmp_path, receiver) as w:
        models = await import_two(w, trained)  # an RF and an XGBoost model
        for m in models:
            await _configure(w, m, 0.0)  # every prediction is an alert
        last = await _feed(w, len(models))
        sent = await _delivered(receiver, last, len(models))
        stored = await _stored(w.pool, last)
        for m in models:
            loaded = w.service.registry.models[m["id"]].loaded
            assert loaded is not None
            columns = loaded.input_columns
            estimator = joblib.load(m["local_model_path"])
            named = 0
            for coin in COINS:
                item, row = sent[(coin, m["id"])], stored[(coin, m["id"])]
                assert item["is_alert"] is True and row["is_alert"] is True
                # what an independent computation names: the reference features of the
                # coin's whole history, the model file loaded afresh
                x = await expected_input(w.pool, coin, last, columns)
                contributions, _ = explainer(estimator).explain(x)
                [want] = top_reasons(contributions, x, columns, 3)
                got = item["reasons"]
                assert got == row["reasons"]  # what is sent is what is stored
                assert [r["feature"] for r in got] == [r["feature"] for r in want]
                for g, e in zip(got, want, strict=True):
                    assert g["contribution"] == pytest.approx(e["contribution"], rel=1e-6)
                    assert g["value"] == pytest.approx(e["value"], rel=1e-9, abs=1e-12)
                    assert g["contribution"] > 0
                assert len(got) <= 3
                named += len(got)
                # the API returns them: one prediction and the list
                one = (await w.api.get(f"/api/predictions/{row['id']}")).json()
                assert one["reasons"] == got
                listed = (
                    await w.api.get(
                        "/api/predictions",
                        params={"coin_id": coin, "active_model_id": m["id"], "is_alert": True},
                    )
                ).json()["predictions"]
                assert next(p for p in listed if p["id"] == row["id"])["reasons"] == got
                # and POST /api/predict names the same for the same snapshot
                manual = (
                    await w.api.post("/api/predict", json={"coin_id": coin, "model_ids": [m["id"]]})
                ).json()["predictions"]
                assert [p["reasons"] for p in manual] == [got]
            assert named > 0, f"model {m['name']}: no alert named a feature"


async def test_only_alerts_have_reasons_and_alert_reasons_0_turns_them_off(
    db_dsn: str, pool: asyncpg.Pool, training_url: str, tmp_path: Path, trained: Any
) -> None:
    receiver = ReceiverStats(record=True)
    async with hooked_world(db_dsn, pool, training_url, tmp_path, receiver) as w:
        rf, xgb = await import_two(w, trained)
        await _configure(w, rf, 0.0)  # alerts
        await _configure(w, xgb, 1.0)  # never an alert (a logistic below 1)
        last = await _feed(w, 2)
        sent = await _delivered(receiver, last, 2)
        for coin in COINS:
            assert sent[(coin, xgb["id"])]["is_alert"] is False
            assert sent[(coin, xgb["id"])]["reasons"] is None
            assert sent[(coin, rf["id"])]["reasons"]  # named (this coin has positive pushes)
        counts = await w.pool.fetchrow(
            "SELECT count(*) FILTER (WHERE NOT is_alert) AS others,"
            " count(*) FILTER (WHERE NOT is_alert AND reasons IS NOT NULL) AS others_named,"
            " count(*) FILTER (WHERE is_alert AND reasons IS NULL) AS alerts_unnamed"
            " FROM predictions"
        )
        assert counts["others"] > 0
        assert counts["others_named"] == 0 and counts["alerts_unnamed"] == 0

    off = ReceiverStats(record=True)
    async with (
        serve_app(receiver_app(off, any_path=True)) as url,
        make_world(
            db_dsn,
            pool,
            training_url,
            tmp_path / "off",
            n8n_webhook_url=url,
            alert_reasons=0,
            **FAST_RETRY,
        ) as w,
    ):
        await pool.execute("TRUNCATE predictions, coin_metrics")
        active = (await w.api.get("/api/models/active")).json()["models"]
        for m in active:
            await _configure(w, m, 0.0)
        last = await _feed(w, len(active))
        sent = await _delivered(off, last, len(active))
        assert all(item["is_alert"] and item["reasons"] is None for item in sent.values())
        assert await count_predictions(w.pool, "reasons IS NOT NULL") == 0
        assert await count_predictions(w.pool, "is_alert") >= len(COINS) * len(active)


async def test_a_model_whose_explanation_fails_still_stores_and_sends_its_predictions(
    db_dsn: str,
    pool: asyncpg.Pool,
    training_url: str,
    tmp_path: Path,
    trained: dict[str, TrainedFile],
) -> None:
    receiver = ReceiverStats(record=True)
    async with hooked_world(db_dsn, pool, training_url, tmp_path, receiver) as w:
        async with w.pool.acquire() as conn:
            broken_id = await insert_ml_model(
                conn, name="unexplainable", path=trained["rf_unexplainable"].path
            )
            xgb_id = await insert_ml_model(
                conn, name="xgb-why", path=trained["xgb"].path, model_type="xgboost"
            )
        models = []
        for model_id in (broken_id, xgb_id):
            resp = await w.api.post("/api/models/import", json={"model_id": model_id})
            assert resp.status_code == 201, resp.text
            models.append(resp.json())
            await _configure(w, models[-1], 0.0)
        broken, xgb = models
        last = await _feed(w, 2)
        sent = await _delivered(receiver, last, 2)
        stored = await _stored(w.pool, last)
        for coin in COINS:
            assert stored[(coin, broken["id"])]["is_alert"] is True
            assert stored[(coin, broken["id"])]["reasons"] is None
            assert sent[(coin, broken["id"])]["reasons"] is None
            assert sent[(coin, broken["id"])]["probability"] == float(
                stored[(coin, broken["id"])]["probability"]
            )
            # the other model of the same batch is explained all the same
            assert stored[(coin, xgb["id"])]["reasons"] is not None
        metrics = (await w.api.get("/metrics")).text
        [line] = [x for x in metrics.splitlines() if 'ml_errors_total{type="alert_reasons"}' in x]
        assert float(line.split()[-1]) >= 1
        health = (await w.api.get("/health")).json()
        assert not any("unexplainable" in r for r in health["reasons"])
