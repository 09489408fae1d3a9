from __future__ import annotations

import asyncio
import json

import asyncpg

from ml_prediction_service.db.pool import connect
from ml_prediction_service.db.schema import (
    NOTIFY_CHANNEL,
    install_coin_metrics_trigger,
    trigger_status,
)
from tests.support.coin_metrics import MINIMAL_COIN_METRICS


async def test_missing_table_is_reported_not_raised(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        status = await install_coin_metrics_trigger(conn)
    assert not status.installed
    assert "coin_metrics does not exist" in (status.reason or "")


async def test_statement_trigger_writes_events_and_notifies_once(
    pool: asyncpg.Pool, db_dsn: str
) -> None:
    await pool.execute(MINIMAL_COIN_METRICS)
    async with pool.acquire() as conn:
        status = await install_coin_metrics_trigger(conn)
        again = await install_coin_metrics_trigger(conn)
    assert status.installed and status.mode == "statement"
    assert again.installed

    listener = await connect(db_dsn)
    received: list[str] = []
    got = asyncio.Event()

    def on_notify(_c: object, _pid: int, channel: str, payload: str) -> None:
        assert channel == NOTIFY_CHANNEL
        received.append(payload)
        got.set()

    await listener.add_listener(NOTIFY_CHANNEL, on_notify)
    try:
        await pool.execute(
            """
            INSERT INTO coin_metrics (mint, "timestamp", phase_id_at_time, price_close)
            VALUES ('A', '2026-01-01T00:00:00Z', 1, 1e-8),
                   ('B', '2026-01-01T00:00:05Z', 2, 2e-8),
                   ('A', '2026-01-01T00:00:10Z', NULL, 3e-8)
            """
        )
        await asyncio.wait_for(got.wait(), 5)
        await asyncio.sleep(0.2)
    finally:
        await listener.close()
    assert len(received) == 1
    payload = json.loads(received[0])
    assert set(payload) == {"mint", "timestamp", "phase_id"}
    assert payload["mint"] == "A" and payload["phase_id"] is None
    assert payload["timestamp"].startswith("2026-01-01T00:00:10")
    events = await pool.fetch(
        "SELECT mint, phase_id FROM prediction_events ORDER BY data_timestamp"
    )
    assert [(e["mint"], e["phase_id"]) for e in events] == [("A", 1), ("B", 2), ("A", None)]


async def test_disabled_trigger_is_respected_and_reported(pool: asyncpg.Pool) -> None:
    await pool.execute(MINIMAL_COIN_METRICS)
    async with pool.acquire() as conn:
        await install_coin_metrics_trigger(conn)
        await conn.execute("ALTER TABLE coin_metrics DISABLE TRIGGER coin_metrics_insert_trigger")
        status = await install_coin_metrics_trigger(conn)
        assert not status.installed
        assert "disabled" in (status.reason or "")
        assert (await trigger_status(conn)).mode == "statement"


async def test_collector_role_without_event_privileges_can_insert(
    pool: asyncpg.Pool,
) -> None:
    """The trigger function is SECURITY DEFINER: the collector needs no rights on our tables."""
    await pool.execute(MINIMAL_COIN_METRICS)
    async with pool.acquire() as conn:
        await install_coin_metrics_trigger(conn)
        await conn.execute(
            "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'collector_t') "
            "THEN CREATE ROLE collector_t; END IF; END $$"
        )
        await conn.execute("GRANT INSERT ON coin_metrics TO collector_t")
        async with conn.transaction():
            await conn.execute("SET LOCAL ROLE collector_t")
            await conn.execute("INSERT INTO coin_metrics (mint) VALUES ('Z')")
        await conn.execute("REVOKE ALL ON coin_metrics FROM collector_t")
    assert await pool.fetchval("SELECT count(*) FROM prediction_events WHERE mint = 'Z'") == 1
