"""The collector stand-in writes contract-true rows into a real coin_metrics table."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import asyncpg
import numpy as np
import pandas as pd

from ml_prediction_service.db.schema import install_coin_metrics_trigger
from ml_prediction_service.stand_ins.collector import CollectorConfig, insert_rows, run_collector
from ml_prediction_service.stand_ins.ddl import create_dev_schema
from ml_prediction_service.stand_ins.simulator import METRIC_COLUMNS, SimConfig
from ml_prediction_service.stand_ins.stream import SimulationStream
from tests.support.contract_rules import rule_violations, sequence_violations
from tests.support.wait import eventually

START = datetime(2025, 2, 1, 8, 0, tzinfo=UTC)
SELECT_ALL = (
    f'SELECT mint, "timestamp", {", ".join(METRIC_COLUMNS)} FROM coin_metrics '
    'ORDER BY "timestamp", mint'
)


async def _frame(conn: asyncpg.Connection) -> pd.DataFrame:
    rows = await conn.fetch(SELECT_ALL)  # plain asyncpg: NUMERIC arrives as Decimal
    return pd.DataFrame([dict(r) for r in rows], columns=["mint", "timestamp", *METRIC_COLUMNS])


async def _fast(conn: asyncpg.Connection, sim: SimConfig, batch: int = 400) -> int:
    stats = await run_collector(
        conn,
        SimulationStream(sim),
        CollectorConfig(duration_seconds=30, rate=0, batch_size=batch),
        progress=None,
    )
    assert stats.simulation_over
    return stats.rows_inserted


async def test_rows_in_the_database_obey_every_derived_column_rule(db_dsn: str) -> None:
    conn = await asyncpg.connect(db_dsn)
    try:
        await create_dev_schema(conn)
        sim = SimConfig(n_coins=25, seed=21, start=START, null_fraction=0.01)
        inserted = await _fast(conn, sim)
        frame = await _frame(conn)
        assert len(frame) == inserted > 3000
        assert frame["price_close"].map(type).eq(type(None)).sum() > 0  # some NULLs
        assert rule_violations(frame) == {}
        assert sequence_violations(frame) == {}
        tiny = await conn.fetchval("SELECT min(price_low) FROM coin_metrics")
        assert tiny < 1e-7  # 18 decimals: memecoin prices are stored unrounded
        assert await conn.fetchval("SELECT count(*) FROM coin_metrics WHERE is_koth IS NULL") == 0
    finally:
        await conn.close()


async def test_same_seed_same_rows_in_the_database(db_dsn: str) -> None:
    conn = await asyncpg.connect(db_dsn)
    try:
        await create_dev_schema(conn)
        sim = SimConfig(n_coins=8, seed=99, start=START, null_fraction=0.01)
        await _fast(conn, sim, batch=123)
        first = await conn.fetch(SELECT_ALL)
        await conn.execute("TRUNCATE coin_metrics")
        await _fast(conn, sim, batch=1000)
        again = await conn.fetch(SELECT_ALL)
        assert len(first) > 500
        assert [tuple(r) for r in first] == [tuple(r) for r in again]
        expected = SimulationStream(sim).take_all()
        stamps = [START + timedelta(seconds=int(o)) for o in expected.offsets]
        assert [(r["timestamp"], r["mint"]) for r in first] == sorted(
            zip(stamps, expected.mints.tolist(), strict=True)
        )
    finally:
        await conn.close()


async def test_one_statement_and_one_notification_per_batch(db_dsn: str) -> None:
    conn = await asyncpg.connect(db_dsn)
    listener = await asyncpg.connect(db_dsn)
    received: list[str] = []
    try:
        await create_dev_schema(conn)
        status = await install_coin_metrics_trigger(conn)
        assert status.installed and status.mode == "statement"
        await listener.add_listener("coin_metrics_insert", lambda *a: received.append(a[3]))
        sim = SimConfig(n_coins=5, seed=4, start=START)
        stats = await run_collector(
            conn,
            SimulationStream(sim),
            CollectorConfig(duration_seconds=30, rate=0, batch_size=250),
            progress=None,
        )
        # the last notifications may still be on their way
        await eventually(lambda: len(received) >= stats.batches, 2, interval=0.02)
        assert stats.batches == -(-stats.rows_inserted // 250)
        assert len(received) == stats.batches
        events = await conn.fetchval("SELECT count(*) FROM prediction_events")
        assert events == stats.rows_inserted
    finally:
        await listener.close()
        await conn.close()


async def test_real_time_pacing_follows_the_speed_factor(db_dsn: str) -> None:
    conn = await asyncpg.connect(db_dsn)
    try:
        await create_dev_schema(conn)
        start = datetime.now(UTC).replace(microsecond=0)
        sim = SimConfig(n_coins=10, seed=8, start=start, launch_span_seconds=60)
        lines: list[str] = []
        t0 = time.monotonic()
        stats = await run_collector(
            conn,
            SimulationStream(sim),
            CollectorConfig(duration_seconds=1.5, speed=120, progress_interval_seconds=0.5),
            progress=lines.append,
        )
        wall = time.monotonic() - t0
        assert 1.4 <= wall < 15  # stops after its duration (upper bound generous for CI)
        newest = await conn.fetchval('SELECT max("timestamp") FROM coin_metrics')
        simulated = (newest - start).total_seconds()
        assert 0 < simulated <= (wall + 0.5) * 120  # never ahead of the simulated clock
        assert stats.rows_inserted == await conn.fetchval("SELECT count(*) FROM coin_metrics")
        assert len(lines) >= 3 and all("rows/s" in line for line in lines)
    finally:
        await conn.close()


async def test_rate_pacing_is_bounded(db_dsn: str) -> None:
    conn = await asyncpg.connect(db_dsn)
    try:
        await create_dev_schema(conn)
        sim = SimConfig(n_coins=30, seed=2, start=START)
        stats = await run_collector(
            conn,
            SimulationStream(sim),
            CollectorConfig(duration_seconds=1.0, rate=300, batch_size=50),
            progress=None,
        )
        assert 1 <= stats.rows_inserted <= 330  # never faster than the rate
        assert not stats.simulation_over
    finally:
        await conn.close()


async def test_insert_rows_works_through_the_service_pool(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await create_dev_schema(conn)
    block = SimulationStream(SimConfig(n_coins=2, seed=1, start=START, null_fraction=0.2))
    rows = block.take_all()
    assert await insert_rows(pool, rows) == len(rows)
    value = await pool.fetchval(
        "SELECT price_close FROM coin_metrics WHERE price_close > 0 LIMIT 1"
    )
    assert isinstance(value, float)  # the service's codecs are in place
    nulls = await pool.fetchval("SELECT count(*) FROM coin_metrics WHERE volume_sol IS NULL")
    assert nulls == int(np.isnan(rows.columns["volume_sol"].astype(float)).sum()) > 0
