"""Evaluation deliveries in the webhook outbox (kind 'evaluation'): the outcome of one alert
is never superseded by a newer snapshot of its coin, and supersedes nothing itself."""

from __future__ import annotations

from datetime import timedelta

import asyncpg

from ml_prediction_service.db import webhooks_repo
from tests.support.metrics import T0

URL = "http://127.0.0.1:9/hook"


async def test_an_outcome_is_never_superseded_and_supersedes_nothing(pool: asyncpg.Pool) -> None:
    t1, t2, t3 = T0, T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)
    async with pool.acquire() as conn:
        await webhooks_repo.enqueue(conn, [("X", t2, URL, {"snapshot": 2}, "p2")])
        # an outcome of an older snapshot's alert: the pending newer snapshot stays
        await webhooks_repo.enqueue_evaluations(conn, [("X", t1, URL, {"outcome": 1}, "e1")])
        # a newer snapshot: supersedes the older prediction delivery, not the outcome
        assert await webhooks_repo.enqueue(conn, [("X", t3, URL, {"snapshot": 3}, "p3")]) == 1
        assert (await webhooks_repo.maintain(conn, 300))["superseded"] == 0
        rows = await conn.fetch(
            "SELECT id, kind, status, data_timestamp FROM prediction_webhook_outbox "
            "ORDER BY data_timestamp"
        )
        assert [(r["kind"], r["status"], r["data_timestamp"]) for r in rows] == [
            ("evaluation", "pending", t1),
            ("prediction", "superseded", t2),
            ("prediction", "pending", t3),
        ]
        # claimable beside the newer snapshot (a prediction delivery there would not be)
        claimed = await webhooks_repo.claim_due(conn, 10, 30, 300)
        assert {d.id for d in claimed} == {rows[0]["id"], rows[2]["id"]}
        # queued twice (a retried transaction): stored once
        await webhooks_repo.enqueue_evaluations(conn, [("X", t1, URL, {"outcome": 1}, "e1")])
        kinds = await conn.fetchval(
            "SELECT count(*) FROM prediction_webhook_outbox WHERE kind = 'evaluation'"
        )
        assert kinds == 1
