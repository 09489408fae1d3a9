"""Webhooks end to end: pipeline → outbox → real HTTP receiver (the n8n stand-in)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from pathlib import Path

import asyncpg
import jsonschema

from ml_prediction_service.demo.receiver import ReceiverStats, receiver_app
from tests.support.http import free_port, serve_app
from tests.support.metrics import coin_rows, insert_metrics, newest
from tests.support.models import TrainedFile
from tests.support.wait import eventually
from tests.support.webhooks import FAST_RETRY, import_two, wait_len, wait_logged
from tests.support.world import count_predictions, make_world

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[3] / "docs" / "webhook-payload.schema.json").read_text()
)


async def test_one_post_per_coin_snapshot_with_all_models_grouped_by_url(
    db_dsn: str,
    pool: asyncpg.Pool,
    training_url: str,
    tmp_path: Path,
    trained: dict[str, TrainedFile],
) -> None:
    default, other = ReceiverStats(record=True), ReceiverStats(record=True)
    async with (
        serve_app(receiver_app(default, any_path=True)) as default_url,
        serve_app(receiver_app(other, any_path=True)) as other_url,
        make_world(
            db_dsn,
            pool,
            training_url,
            tmp_path,
            n8n_webhook_url=f"{default_url}/hook",
            n8n_webhook_secret="shh",
            **FAST_RETRY,
        ) as world,
    ):
        rf, xgb = await import_two(world, trained)
        override = await world.api.patch(
            f"/api/models/{xgb['id']}/webhook", json={"url": f"{other_url}/x"}
        )
        assert override.status_code == 200 and override.json()["webhook_url"] == f"{other_url}/x"
        await world.api.patch(
            f"/api/models/{rf['id']}/alert-threshold", json={"alert_threshold": 0.0}
        )
        await insert_metrics(world.pool, coin_rows("A", 8, seed=1) + coin_rows("B", 8, seed=2))
        assert await wait_len(default.requests, 2) and await wait_len(other.requests, 2)

        async def all_delivered() -> bool:
            return await world.pool.fetchval(
                "SELECT count(*) FILTER (WHERE status = 'delivered') = 4 AND count(*) = 4 "
                "FROM prediction_webhook_outbox"
            )

        assert await eventually(all_delivered)
        # stored: each model's static object once, the payloads refer to it
        # (docs/webhooks.md, "Stored payloads"); sent and listed: the full payload
        stored = await world.pool.fetch("SELECT id, payload FROM prediction_webhook_outbox")
        assert all('{"$model":"' in r["payload"] for r in stored)
        assert not any('"features"' in r["payload"] for r in stored)
        objects = await world.pool.fetch("SELECT body FROM prediction_webhook_model_objects")
        assert sorted(json.loads(o["body"])["active_model_id"] for o in objects) == sorted(
            [rf["id"], xgb["id"]]
        )
        log = (await world.api.get("/api/webhooks/log", params={"outcome": "delivered"})).json()
        listed = {e["outbox_id"]: e["payload"] for e in log["entries"]}
        assert set(listed) == {r["id"] for r in stored}
        assert sorted(map(json.dumps, listed.values())) == sorted(
            json.dumps(r.json) for r in default.requests + other.requests
        )
    assert len(default.requests) == 2 and len(other.requests) == 2  # one per coin per URL
    for received in default.requests + other.requests:
        payload = received.json
        jsonschema.validate(payload, SCHEMA, format_checker=jsonschema.FormatChecker())
        assert len(payload["predictions"]) == 1
        assert received.headers["idempotency-key"]
        expected = "sha256=" + hmac.new(b"shh", received.body, hashlib.sha256).hexdigest()
        assert received.headers["x-signature-sha256"] == expected
    for received in default.requests:
        (p,) = received.json["predictions"]
        assert p["model"]["active_model_id"] == rf["id"]
        assert p["is_alert"] is True and p["alert_threshold"] == 0.0  # threshold 0: always
    assert {r.json["coin_id"] for r in other.requests} == {"A", "B"}


async def test_send_modes_and_disabled_model(
    db_dsn: str,
    pool: asyncpg.Pool,
    training_url: str,
    tmp_path: Path,
    trained: dict[str, TrainedFile],
) -> None:
    receiver = ReceiverStats(record=True)
    async with (
        serve_app(receiver_app(receiver, any_path=True)) as url,
        make_world(
            db_dsn, pool, training_url, tmp_path, n8n_webhook_url=url, **FAST_RETRY
        ) as world,
    ):
        rf, xgb = await import_two(world, trained)
        await world.api.patch(
            f"/api/models/{rf['id']}/alert-threshold", json={"alert_threshold": 1.0}
        )
        r = await world.api.patch(
            f"/api/models/{rf['id']}/webhook", json={"send_mode": ["alerts_only"]}
        )
        assert r.json()["webhook_send_mode"] == ["alerts_only"]
        await world.api.patch(f"/api/models/{xgb['id']}/webhook", json={"enabled": False})
        bad = await world.api.patch(
            f"/api/models/{xgb['id']}/webhook", json={"send_mode": ["loud"]}
        )
        assert bad.status_code == 422
        bad_url = await world.api.patch(
            f"/api/models/{xgb['id']}/webhook", json={"url": "not a url"}
        )
        assert bad_url.status_code == 422
        await insert_metrics(world.pool, coin_rows("Q", 8, seed=3))

        async def predicted() -> bool:
            return await count_predictions(world.pool, "coin_id = 'Q'") == 2

        assert await eventually(predicted)
        await asyncio.sleep(0.5)
        # rf: never an alert at threshold 1.0 with alerts_only; xgb: disabled → nothing sent
        assert receiver.requests == []
        assert await world.pool.fetchval("SELECT count(*) FROM prediction_webhook_outbox") == 0


async def test_receiver_down_then_up_across_a_restart_delivers_each_coins_newest_once(
    db_dsn: str,
    pool: asyncpg.Pool,
    training_url: str,
    tmp_path: Path,
    trained: dict[str, TrainedFile],
) -> None:
    port = free_port()
    hook = f"http://127.0.0.1:{port}/hook"
    async with make_world(
        db_dsn, pool, training_url, tmp_path, n8n_webhook_url=hook, **FAST_RETRY
    ) as world:
        await import_two(world, trained)
        coins = ("C1", "C2")
        # history, then two more snapshots per coin: three webhooks per coin, in time order
        await insert_metrics(
            world.pool, [r for i, c in enumerate(coins) for r in coin_rows(c, 6, seed=i)]
        )
        for step in (7, 8):
            await asyncio.sleep(0.2)
            await insert_metrics(
                world.pool, [coin_rows(c, step, seed=i)[-1] for i, c in enumerate(coins)]
            )

        async def retried() -> bool:
            return bool(
                await world.pool.fetchval(
                    "SELECT count(*) FROM prediction_webhook_log WHERE outcome = 'retry'"
                )
            )

        assert await eventually(retried)
    # the service is down now; deliveries wait in the outbox (none is left 'sending')
    open_rows = await pool.fetch(
        "SELECT status FROM prediction_webhook_outbox WHERE status IN ('pending','sending')"
    )
    assert len(open_rows) >= len(coins) and {r["status"] for r in open_rows} == {"pending"}
    receiver = ReceiverStats(record=True)
    async with (
        serve_app(receiver_app(receiver, any_path=True), port=port),
        make_world(
            db_dsn, pool, training_url, tmp_path / "again", n8n_webhook_url=hook, **FAST_RETRY
        ) as world,
    ):
        assert await wait_len(receiver.requests, 2, seconds=20)
        await asyncio.sleep(0.5)
        metrics = (await world.api.get("/metrics")).text
    # each coin's newest snapshot, once; the older ones were superseded, never sent
    keys = [r.headers["idempotency-key"] for r in receiver.requests]
    assert len(keys) == len(set(keys)) == 2
    newest_stamp = newest(coin_rows("x", 8)).isoformat()
    for r in receiver.requests:
        assert len(r.json["predictions"]) == 2
        assert r.json["timestamp"] == newest_stamp
    assert {r.json["coin_id"] for r in receiver.requests} == set(coins)
    statuses = dict(
        await pool.fetch("SELECT status, count(*) FROM prediction_webhook_outbox GROUP BY status")
    )
    assert statuses == {"delivered": 2, "superseded": 4}
    assert "ml_webhook_deliveries_total 2.0" in metrics


async def test_slow_receiver_does_not_slow_predictions(
    db_dsn: str,
    pool: asyncpg.Pool,
    training_url: str,
    tmp_path: Path,
    trained: dict[str, TrainedFile],
) -> None:
    receiver = ReceiverStats(record=True, delay=3.0)
    async with (
        serve_app(receiver_app(receiver, any_path=True)) as url,
        make_world(
            db_dsn,
            pool,
            training_url,
            tmp_path,
            n8n_webhook_url=url,
            n8n_webhook_timeout=0.2,
            webhook_concurrency=2,
            **FAST_RETRY,
        ) as world,
    ):
        await import_two(world, trained)
        coins = [f"S{i}" for i in range(20)]
        await insert_metrics(
            world.pool, [r for i, c in enumerate(coins) for r in coin_rows(c, 6, seed=i)]
        )
        for step in range(3):
            await insert_metrics(
                world.pool, [coin_rows(c, 7 + step, seed=i)[-1] for i, c in enumerate(coins)]
            )

        last = newest(coin_rows("x", 9))

        async def all_predicted() -> bool:
            n = await count_predictions(world.pool, "data_timestamp = $1", last)
            return n == len(coins) * 2

        # every snapshot predicted while not a single webhook has been answered in time
        assert await eventually(all_predicted, seconds=10)
        delivered = await world.pool.fetchval(
            "SELECT count(*) FROM prediction_webhook_outbox WHERE status = 'delivered'"
        )
        assert delivered == 0

        async def timeouts_logged() -> bool:
            return bool(
                await world.pool.fetchval(
                    "SELECT count(*) FROM prediction_webhook_log "
                    "WHERE error_message LIKE 'timed out%' AND outcome = 'retry'"
                )
            )

        assert await eventually(timeouts_logged)


async def test_4xx_is_not_retried_5xx_and_429_are(
    db_dsn: str,
    pool: asyncpg.Pool,
    training_url: str,
    tmp_path: Path,
    trained: dict[str, TrainedFile],
) -> None:
    receiver = ReceiverStats(record=True, statuses=[503, 429, 200, 400], retry_after="0")
    async with (
        serve_app(receiver_app(receiver, any_path=True)) as url,
        make_world(
            db_dsn, pool, training_url, tmp_path, n8n_webhook_url=url, **FAST_RETRY
        ) as world,
    ):
        await import_two(world, trained)
        await insert_metrics(world.pool, coin_rows("R1", 8, seed=1))
        assert await wait_len(receiver.requests, 3)
        # R2 goes in only once R1's last attempt is on record: the log's order is then the
        # order of the attempts
        assert await wait_logged(world.pool, 1, "coin_id = 'R1' AND outcome = 'delivered'")
        await insert_metrics(world.pool, coin_rows("R2", 8, seed=2))
        assert await wait_len(receiver.requests, 4)
        assert await wait_logged(world.pool, 4)
        await asyncio.sleep(0.5)  # room for a wrong fifth request (the 400 retried)
        log = await world.pool.fetch(
            "SELECT coin_id, response_status, outcome, attempt FROM prediction_webhook_log "
            "ORDER BY id"
        )
        api_log = (await world.api.get("/api/webhooks/log", params={"coin_id": "R1"})).json()
        failed_only = (
            await world.api.get("/api/webhooks/log", params={"outcome": "failed"})
        ).json()
    assert [(r["coin_id"], r["response_status"], r["outcome"], r["attempt"]) for r in log] == [
        ("R1", 503, "retry", 1),
        ("R1", 429, "retry", 2),
        ("R1", 200, "delivered", 3),
        ("R2", 400, "failed", 1),
    ]
    assert len(receiver.requests) == 4  # the 400 was not retried
    assert api_log["total"] == 3 and api_log["entries"][0]["outcome"] == "delivered"
    assert [e["coin_id"] for e in failed_only["entries"]] == ["R2"]


async def test_stale_predictions_are_stored_but_not_sent(
    db_dsn: str,
    pool: asyncpg.Pool,
    training_url: str,
    tmp_path: Path,
    trained: dict[str, TrainedFile],
) -> None:
    receiver = ReceiverStats(record=True)
    async with (
        serve_app(receiver_app(receiver, any_path=True)) as url,
        make_world(
            db_dsn,
            pool,
            training_url,
            tmp_path,
            n8n_webhook_url=url,
            max_event_age_seconds=60,
            **FAST_RETRY,
        ) as world,
    ):
        await import_two(world, trained)
        rows = coin_rows("OLD", 8, seed=4)
        async with world.pool.acquire() as conn:
            await conn.execute(
                "ALTER TABLE coin_metrics DISABLE TRIGGER coin_metrics_insert_trigger"
            )
            await insert_metrics(conn, rows)
            await conn.execute(
                "INSERT INTO prediction_events (mint, data_timestamp, phase_id, created_at) "
                "VALUES ('OLD', $1, 1, now() - interval '1 hour')",
                newest(rows),
            )
        world.service.wakeup.set()

        async def predicted() -> bool:
            return await count_predictions(world.pool, "coin_id = 'OLD' AND is_stale") == 2

        assert await eventually(predicted)
        await asyncio.sleep(0.3)
    assert receiver.requests == []


async def test_webhook_test_endpoint(
    db_dsn: str,
    pool: asyncpg.Pool,
    training_url: str,
    tmp_path: Path,
    trained: dict[str, TrainedFile],
) -> None:
    receiver = ReceiverStats(record=True)
    async with (
        serve_app(receiver_app(receiver, any_path=True)) as url,
        make_world(db_dsn, pool, training_url, tmp_path, **FAST_RETRY) as world,
    ):
        rf, _ = await import_two(world, trained)
        none = await world.api.post(f"/api/models/{rf['id']}/webhook-test")
        assert none.status_code == 409 and none.json()["code"] == "no_webhook_url"
        await world.api.patch(f"/api/models/{rf['id']}/webhook", json={"url": f"{url}/t"})
        ok = (await world.api.post(f"/api/models/{rf['id']}/webhook-test")).json()
        assert ok["ok"] is True and ok["status_code"] == 200
        assert receiver.requests[0].json["metadata"]["test"] is True
        jsonschema.validate(receiver.requests[0].json, SCHEMA)
        dead = f"http://127.0.0.1:{free_port()}/nobody"
        await world.api.patch(f"/api/models/{rf['id']}/webhook", json={"url": dead})
        down = (await world.api.post(f"/api/models/{rf['id']}/webhook-test")).json()
        assert down["ok"] is False and down["status_code"] is None and down["error"]
        log = (await world.api.get("/api/webhooks/log", params={"outcome": "test"})).json()
        assert log["total"] == 2
        assert (await world.api.post("/api/models/999/webhook-test")).status_code == 404
