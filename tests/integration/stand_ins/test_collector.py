"""The collector stand-in writes contract-true rows into a real coin_metrics table, stamped
with wall-clock times that never lie ahead of the database's clock."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import asyncpg
import numpy as np
import pandas as pd
import pytest

from ml_prediction_service.db import collector_repo
from ml_prediction_service.db.schema import install_coin_metrics_trigger
from ml_prediction_service.stand_ins.collector import CollectorConfig, insert_rows, run_collector
from ml_prediction_service.stand_ins.ddl import create_dev_schema
from ml_prediction_service.stand_ins.simulator import METRIC_COLUMNS, SimConfig, plan_coins
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


def _by_age(rows: list[asyncpg.Record]) -> list[tuple[object, ...]]:
    """Rows as (mint, seconds after the coin's first row, metrics...), sorted: what a seed
    fixes (where a coin lands on the wall clock depends on when it is replayed)."""
    first: dict[str, datetime] = {}
    for r in rows:
        first[r["mint"]] = min(first.get(r["mint"], r["timestamp"]), r["timestamp"])
    return sorted(
        (r["mint"], (r["timestamp"] - first[r["mint"]]).total_seconds(), *tuple(r)[2:])
        for r in rows
    )


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
        assert _by_age(first) == _by_age(again)
        expected = SimulationStream(sim).take_all()
        launch = {c.mint: c.launch_offset for c in plan_coins(sim)}
        ages = [int(o) - launch[m] for m, o in zip(expected.mints, expected.offsets, strict=True)]
        assert [(r[0], r[1]) for r in _by_age(first)] == sorted(
            zip(expected.mints.tolist(), map(float, ages), strict=True)
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
        # never ahead of the simulated clock: only rows due within the run went in
        due = SimulationStream(sim).take_until((wall + 0.5) * 120)
        assert 0 < stats.rows_inserted <= len(due)
        assert stats.rows_inserted == await conn.fetchval("SELECT count(*) FROM coin_metrics")
        assert await conn.fetchval('SELECT max("timestamp") <= now() FROM coin_metrics')
        assert len(lines) >= 3 and all("rows/s" in line for line in lines)
    finally:
        await conn.close()


# Every INSERT statement (one batch) logs its newest timestamp and the database's clock.
BATCH_CLOCK = """
CREATE TABLE batch_clock (newest timestamptz, db_now timestamptz, n int);
CREATE FUNCTION log_batch_clock() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO batch_clock SELECT max("timestamp"), now(), count(*) FROM new_rows;
    RETURN NULL;
END $$;
CREATE TRIGGER log_batch_clock AFTER INSERT ON coin_metrics
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION log_batch_clock();
"""


@pytest.mark.parametrize(
    ("pacing", "span"),
    [
        ({"speed": 3600.0}, 600.0),  # an hour per second
        ({"rate": 3000.0, "batch_size": 200}, 60.0),  # the benchmark's kind of run
        ({"rate": 0.0, "batch_size": 500}, 3600.0),  # flat out
    ],
    ids=["speed", "rate", "flat-out"],
)
async def test_no_row_is_stamped_ahead_of_the_database_clock(
    db_dsn: str, pacing: dict[str, float], span: float
) -> None:
    conn = await asyncpg.connect(db_dsn)
    try:
        await create_dev_schema(conn)
        await conn.execute(BATCH_CLOCK)
        before = await conn.fetchval("SELECT now()")
        sim = SimConfig(n_coins=40, seed=5, start=before, launch_span_seconds=span)
        stats = await run_collector(
            conn,
            SimulationStream(sim),
            CollectorConfig(duration_seconds=1.5, **pacing),  # type: ignore[arg-type]
            progress=None,
        )
        batches = await conn.fetch("SELECT newest, db_now, n FROM batch_clock")
        assert stats.rows_inserted > 200 and len(batches) == stats.batches
        assert sum(b["n"] for b in batches) == stats.rows_inserted
        assert all(b["newest"] <= b["db_now"] for b in batches)
        # a coin replayed faster than real time: its past compressed behind now, its rows
        # one phase interval apart, its newest rows about now
        frame = await _frame(conn)
        assert sequence_violations(frame) == {}
        newest = max(b["newest"] for b in batches)
        assert newest == stats.newest_timestamp
        if "speed" in pacing:
            assert newest >= before - timedelta(minutes=2)
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
    mints = set(rows.mints.tolist())
    assert await collector_repo.known_mints(pool, [*mints, "unknown"]) == mints


async def test_insert_stamps_follow_the_wall_clock_in_each_coins_order(db_dsn: str) -> None:
    conn = await asyncpg.connect(db_dsn)
    try:
        await create_dev_schema(conn)
        await conn.execute(BATCH_CLOCK)
        before = await conn.fetchval("SELECT now()")
        # coins launched a day back: placed stamps would lie hours in the past
        sim = SimConfig(n_coins=30, seed=4, start=START)
        stats = await run_collector(
            conn,
            SimulationStream(sim),
            CollectorConfig(duration_seconds=1.5, rate=400, batch_size=40, stamp="insert"),
            progress=None,
        )
        batches = await conn.fetch("SELECT newest, db_now, n FROM batch_clock")
        assert stats.rows_inserted > 100 and len(batches) == stats.batches
        assert all(b["newest"] <= b["db_now"] for b in batches)
        oldest = await conn.fetchval('SELECT min("timestamp") FROM coin_metrics')
        assert oldest >= before - timedelta(seconds=1)
        distinct = await conn.fetchval(
            'SELECT count(DISTINCT (mint, "timestamp")) FROM coin_metrics'
        )
        assert distinct == stats.rows_inserted
    finally:
        await conn.close()
