"""Alerts that reach n8n in time, once, and only when they mean something: superseding,
expiry, n8n's failure semantics, re-sending, tags, send modes by tag, ignore windows, coin
filters, defaults for new models and health. Real PostgreSQL, real HTTP receiver."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from ml_prediction_service.demo.receiver import ReceiverStats, receiver_app
from tests.support.http import free_port, serve_app
from tests.support.metrics import T0, coin_rows, insert_metrics
from tests.support.models import TrainedFile, insert_ml_model
from tests.support.wait import eventually
from tests.support.webhooks import FAST_RETRY, hooked_world, import_two, wait_len, wait_logged
from tests.support.world import World, count_predictions, make_world


async def _one_model(
    world: World, trained: dict[str, TrainedFile], name: str = "rf-alerts"
) -> dict[str, Any]:
    async with world.pool.acquire() as conn:
        model_id = await insert_ml_model(conn, name=name, path=trained["rf"].path)
    resp = await world.api.post("/api/models/import", json={"model_id": model_id})
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


async def _statuses(pool: asyncpg.Pool) -> dict[str, int]:
    rows = await pool.fetch("SELECT status, count(*) FROM prediction_webhook_outbox GROUP BY 1")
    return {r[0]: int(r[1]) for r in rows}


async def test_a_newer_snapshot_supersedes_an_unsent_older_one_and_order_is_kept(
    db_dsn: str, pool: asyncpg.Pool, training_url: str, tmp_path: Path, trained: Any
) -> None:
    receiver = ReceiverStats(record=True, delay=2.0)  # a slow workflow
    async with hooked_world(db_dsn, pool, training_url, tmp_path, receiver) as w:
        await import_two(w, trained)
        await insert_metrics(w.pool, coin_rows("ORD", 6, seed=1))
        assert await wait_len(receiver.requests, 1)  # recorded as it is answered
        # then four newer snapshots, each predicted (and queued) before the next goes in so
        # that the pipeline cannot fold them into one batch: the first of them is sent at
        # once and held by the receiver for 2 s while the others arrive behind it
        for n in (7, 8, 9, 10):
            row = coin_rows("ORD", n, seed=1)[-1]
            await insert_metrics(w.pool, [row])

            async def predicted(ts: str = row["timestamp"]) -> bool:
                at = datetime.fromisoformat(ts)
                return bool(await count_predictions(w.pool, "data_timestamp = $1", at))

            assert await eventually(predicted)

        async def settled() -> bool:
            s = await _statuses(w.pool)
            return not s.get("pending") and not s.get("sending")

        assert await eventually(settled, seconds=20)
        listed = (
            await w.api.get("/api/webhooks/outbox/deliveries", params={"status": "superseded"})
        ).json()
        stats = (await w.api.get("/api/webhooks/outbox")).json()
        # snapshots that arrive in one batch are predicted once (the newest), so count rows
        queued = await w.pool.fetchval("SELECT count(*) FROM prediction_webhook_outbox")
    stamps = [r.json["timestamp"] for r in receiver.requests]
    assert stamps == sorted(stamps)  # per-coin order
    assert stamps[-1] == coin_rows("ORD", 10, seed=1)[-1]["timestamp"]  # the newest arrived
    assert len(stamps) < queued  # some were superseded, never sent
    keys = [r.headers["idempotency-key"] for r in receiver.requests]
    assert len(keys) == len(set(keys))
    assert listed["total"] == queued - len(stamps) == stats["superseded"]
    assert {d["status"] for d in listed["deliveries"]} == {"superseded"}


async def test_n8n_failure_semantics_404_retried_400_failed_and_resent(
    db_dsn: str, pool: asyncpg.Pool, training_url: str, tmp_path: Path, trained: Any
) -> None:
    # a workflow that is not active yet answers 404 twice, then the workflow is on
    receiver = ReceiverStats(record=True, statuses=[404, 404, 200, 400])
    async with hooked_world(db_dsn, pool, training_url, tmp_path, receiver) as w:
        await _one_model(w, trained)
        await insert_metrics(w.pool, coin_rows("N404", 8, seed=2))
        assert await wait_len(receiver.requests, 3)
        # N400 goes in once N404's delivery is on record, so the log's order is the attempts'
        assert await wait_logged(w.pool, 1, "coin_id = 'N404' AND outcome = 'delivered'")
        await insert_metrics(w.pool, coin_rows("N400", 8, seed=3))
        assert await wait_len(receiver.requests, 4)

        async def failed() -> list[dict[str, Any]]:
            body = (
                await w.api.get("/api/webhooks/outbox/deliveries", params={"status": "failed"})
            ).json()
            return list(body["deliveries"])

        [bad] = await eventually(failed)
        assert bad["coin_id"] == "N400" and bad["last_status"] == 400 and bad["attempts"] == 1
        # re-send it: the receiver answers 200 now
        resp = await w.api.post(f"/api/webhooks/outbox/{bad['id']}/retry")
        assert resp.status_code == 200 and resp.json() == {"requeued": 1, "ids": [bad["id"]]}
        assert await wait_len(receiver.requests, 5)
        assert (await w.api.post(f"/api/webhooks/outbox/{bad['id']}/retry")).status_code == 404
        assert await wait_logged(w.pool, 5)
        log = await w.pool.fetch(
            "SELECT coin_id, response_status, outcome FROM prediction_webhook_log ORDER BY id"
        )
    assert [(r[0], r[1], r[2]) for r in log] == [
        ("N404", 404, "retry"),
        ("N404", 404, "retry"),
        ("N404", 200, "delivered"),
        ("N400", 400, "failed"),
        ("N400", 200, "delivered"),
    ]
    payloads = await pool.fetchval(
        "SELECT count(*) FROM prediction_webhook_log WHERE payload IS NOT NULL"
    )
    assert payloads == 0  # each payload is stored once, in the outbox


async def test_deliveries_past_the_max_age_expire_and_can_be_resent(
    db_dsn: str, pool: asyncpg.Pool, training_url: str, tmp_path: Path, trained: Any
) -> None:
    port = free_port()
    hook = f"http://127.0.0.1:{port}/hook"
    settings = {**FAST_RETRY, "webhook_max_age_seconds": 1.0, "n8n_webhook_timeout": 0.5}
    async with make_world(
        db_dsn, pool, training_url, tmp_path, n8n_webhook_url=hook, **settings
    ) as w:
        await _one_model(w, trained)
        await insert_metrics(w.pool, coin_rows("OLD1", 8, seed=4) + coin_rows("OLD2", 8, seed=5))

        async def closed() -> bool:
            s = await _statuses(w.pool)
            return s.get("expired", 0) + s.get("failed", 0) == 2

        assert await eventually(closed, seconds=15)  # nobody listens: not sent, given up
        receiver = ReceiverStats(record=True)
        async with serve_app(receiver_app(receiver, any_path=True), port=port):
            await asyncio.sleep(0.5)
            assert receiver.requests == []  # old news is not sent by itself
            resp = await w.api.post("/api/webhooks/outbox/retry", json={})
            assert resp.status_code == 200 and resp.json()["requeued"] == 2
            assert await wait_len(receiver.requests, 2)
        bad = await w.api.post(
            "/api/webhooks/outbox/retry",
            json={"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
        )
    assert {r.json["coin_id"] for r in receiver.requests} == {"OLD1", "OLD2"}
    assert bad.status_code == 422


async def test_tags_in_rows_and_payloads_and_send_modes_select_by_tag(
    db_dsn: str, pool: asyncpg.Pool, training_url: str, tmp_path: Path, trained: Any
) -> None:
    receiver = ReceiverStats(record=True)
    async with hooked_world(db_dsn, pool, training_url, tmp_path, receiver) as w:
        rf, xgb = await import_two(w, trained)
        # rf sends only negatives, xgb only alerts (threshold 0: everything is an alert)
        await w.api.patch(f"/api/models/{rf['id']}/webhook", json={"send_mode": ["negative_only"]})
        await w.api.patch(f"/api/models/{xgb['id']}/webhook", json={"send_mode": ["alerts_only"]})
        await w.api.patch(f"/api/models/{xgb['id']}/alert-threshold", json={"alert_threshold": 0})
        coins = [f"T{i}" for i in range(12)]
        await insert_metrics(
            w.pool, [r for i, c in enumerate(coins) for r in coin_rows(c, 8, seed=20 + i)]
        )

        async def predicted() -> bool:
            return await count_predictions(w.pool) == 2 * len(coins)

        assert await eventually(predicted)
        rows = await w.pool.fetch(
            "SELECT coin_id, active_model_id, prediction, probability, is_alert, tag "
            "FROM predictions"
        )
        listed = (await w.api.get("/api/predictions", params={"limit": 100})).json()
        rf_negative = {
            r["coin_id"]
            for r in rows
            if r["active_model_id"] == rf["id"] and r["tag"] == "negative"
        }
        assert await wait_len(receiver.requests, len(coins))
        await asyncio.sleep(0.5)
    for r in rows:
        expected = "alert" if r["is_alert"] else ("positive" if r["prediction"] else "negative")
        assert r["tag"] == expected
        assert r["is_alert"] == (
            r["probability"] >= (0 if r["active_model_id"] == xgb["id"] else 0.7)
        )
    assert {p["tag"] for p in listed["predictions"]} <= {"negative", "positive", "alert"}
    stored = {(r["coin_id"], r["active_model_id"]): r for r in rows}
    sent: dict[str, set[tuple[int, str]]] = {}
    for req in receiver.requests:
        for p in req.json["predictions"]:
            sent.setdefault(req.json["coin_id"], set()).add(
                (p["model"]["active_model_id"], p["tag"])
            )
            # the webhook carries the row's own values: the stored probability and the
            # flags decided on it
            row = stored[(req.json["coin_id"], p["model"]["active_model_id"])]
            assert p["probability"] == float(row["probability"])
            assert (p["prediction"], p["is_alert"], p["tag"]) == (
                row["prediction"],
                row["is_alert"],
                row["tag"],
            )
    for coin in coins:
        want = {(xgb["id"], "alert")} | ({(rf["id"], "negative")} if coin in rf_negative else set())
        assert sent[coin] == want, coin


async def test_ignore_windows_store_suppressed_predictions_and_send_after_the_window(
    db_dsn: str, pool: asyncpg.Pool, training_url: str, tmp_path: Path, trained: Any
) -> None:
    receiver = ReceiverStats(record=True)
    async with hooked_world(db_dsn, pool, training_url, tmp_path, receiver) as w:
        model = await _one_model(w, trained)
        await w.api.patch(f"/api/models/{model['id']}/alert-threshold", json={"alert_threshold": 0})
        resp = await w.api.patch(f"/api/models/{model['id']}/ignore-windows", json={"alert": 20})
        assert resp.status_code == 200 and resp.json()["ignore_alert_seconds"] == 20
        # snapshots every 5 s of coin time: sent at 0 s, suppressed at 5/10/15 s, sent at 20 s
        rows = coin_rows("WIN", 12, seed=6)
        # one statement per snapshot, each predicted before the next (a batch would keep only
        # the coin's newest): the first is the history up to 35 s of the coin's life
        for part in [rows[:8], *([r] for r in rows[8:])]:
            row = part[-1]
            await insert_metrics(w.pool, part)

            async def predicted(ts: str = row["timestamp"]) -> bool:
                at = datetime.fromisoformat(ts)
                return bool(await count_predictions(w.pool, "data_timestamp = $1", at))

            assert await eventually(predicted)
        await asyncio.sleep(0.5)
        stored = await w.pool.fetch(
            "SELECT data_timestamp, suppressed, tag FROM predictions ORDER BY data_timestamp"
        )
    assert [r["tag"] for r in stored] == ["alert"] * 5
    assert [r["suppressed"] for r in stored] == [False, True, True, True, False]
    assert [r.json["timestamp"] for r in receiver.requests] == [
        rows[7]["timestamp"],
        rows[11]["timestamp"],
    ]


async def test_coin_filters_and_defaults_for_new_models(
    db_dsn: str, pool: asyncpg.Pool, training_url: str, tmp_path: Path, trained: Any
) -> None:
    async with make_world(db_dsn, pool, training_url, tmp_path, **FAST_RETRY) as w:
        defaults = await w.api.patch(
            "/api/settings/model-defaults",
            json={
                "alert_threshold": 0.85,
                "webhook_send_mode": ["alerts_only"],
                "ignore_alert_seconds": 300,
                "coin_filter_mode": "whitelist",
                "coin_filter": ["WL1", " WL1", "WL2"],
            },
        )
        assert defaults.status_code == 200, defaults.text
        assert defaults.json()["stored"] is True and defaults.json()["coin_filter"] == [
            "WL1",
            "WL2",
        ]
        model = await _one_model(w, trained)
        assert model["alert_threshold"] == 0.85
        assert model["webhook_send_mode"] == ["alerts_only"]
        assert model["ignore_alert_seconds"] == 300
        assert (model["coin_filter_mode"], model["coin_filter"]) == ("whitelist", ["WL1", "WL2"])
        bad = await w.api.patch("/api/settings/model-defaults", json={"coin_filter_mode": "some"})
        assert bad.status_code == 422
        await insert_metrics(w.pool, coin_rows("WL1", 8, seed=7) + coin_rows("OTHER", 8, seed=8))

        async def done() -> bool:
            return await count_predictions(w.pool) >= 1

        assert await eventually(done)
        await asyncio.sleep(0.5)
        assert {r[0] for r in await w.pool.fetch("SELECT coin_id FROM predictions")} == {"WL1"}
        # a blacklist: everything but the listed coins
        resp = await w.api.patch(
            f"/api/models/{model['id']}/coin-filter", json={"mode": "blacklist", "coins": ["WL1"]}
        )
        assert resp.status_code == 200 and resp.json()["coin_filter_mode"] == "blacklist"
        more = [coin_rows(c, 9, seed=s)[-1] for c, s in (("WL1", 7), ("OTHER", 8))]
        await insert_metrics(w.pool, more)

        async def other() -> bool:
            return bool(await count_predictions(w.pool, "coin_id = 'OTHER'"))

        assert await eventually(other)
        assert await count_predictions(w.pool, "coin_id = 'WL1'") == 1


async def test_health_turns_degraded_when_deliveries_wait_too_long(
    db_dsn: str, pool: asyncpg.Pool, training_url: str, tmp_path: Path, trained: Any
) -> None:
    hook = f"http://127.0.0.1:{free_port()}/nobody"
    settings = {**FAST_RETRY, "webhook_health_max_pending_seconds": 1.0}
    async with make_world(
        db_dsn, pool, training_url, tmp_path, n8n_webhook_url=hook, **settings
    ) as w:
        await _one_model(w, trained)
        await insert_metrics(w.pool, coin_rows("LATE", 8, seed=9, start=T0 + timedelta(hours=1)))

        async def degraded() -> dict[str, Any] | None:
            resp = await w.api.get("/api/health")
            return resp.json() if resp.status_code == 503 else None

        body = await eventually(degraded, seconds=15)
    assert body is not None
    assert any("oldest open webhook delivery" in r for r in body["reasons"]), body["reasons"]
