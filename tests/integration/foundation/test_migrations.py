from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from ml_prediction_service.db.pool import connect
from ml_prediction_service.db.schema import migrate, schema_version
from ml_prediction_service.db.sqlfiles import migration_files
from tests.support.pg import PgTestServer, with_database


@pytest.fixture
async def empty_dsn(pg_server: PgTestServer) -> AsyncIterator[str]:
    """A database that has never been migrated."""
    name = f"empty_{id(object())}"
    admin = await asyncpg.connect(pg_server.admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield with_database(pg_server.admin_dsn, name)
    await pg_server.drop_database(name)


async def test_migrate_twice_applies_nothing_the_second_time(empty_dsn: str) -> None:
    conn = await connect(empty_dsn)
    try:
        first = await migrate(conn)
        second = await migrate(conn)
        assert first == [name for _, name, _ in migration_files()]
        assert second == []
        assert await schema_version(conn) == migration_files()[-1][0]
    finally:
        await conn.close()


async def test_concurrent_migrations_are_safe(empty_dsn: str) -> None:
    conns = [await connect(empty_dsn) for _ in range(4)]
    try:
        results = await asyncio.gather(*(migrate(c) for c in conns))
        applied = [r for r in results if r]
        assert len(applied) == 1, results
        count = await conns[0].fetchval("SELECT count(*) FROM prediction_schema_migrations")
        assert count == len(migration_files())
    finally:
        for c in conns:
            await c.close()


async def test_service_tables_match_the_guide(pool: asyncpg.Pool) -> None:
    rows = await pool.fetch(
        """
        SELECT table_name, column_name, data_type, numeric_precision, numeric_scale,
               column_default, is_nullable
          FROM information_schema.columns
         WHERE table_schema = 'public'
           AND table_name IN ('prediction_active_models', 'predictions',
                              'prediction_webhook_log')
        """
    )
    cols = {(r["table_name"], r["column_name"]): r for r in rows}
    expected = {
        "prediction_active_models": [
            "id",
            "model_id",
            "model_name",
            "model_type",
            "target_variable",
            "target_operator",
            "target_value",
            "future_minutes",
            "price_change_percent",
            "target_direction",
            "features",
            "phases",
            "params",
            "local_model_path",
            "model_file_url",
            "is_active",
            "last_prediction_at",
            "total_predictions",
            "downloaded_at",
            "activated_at",
            "created_at",
            "updated_at",
            "custom_name",
            "alert_threshold",
        ],
        "predictions": [
            "id",
            "coin_id",
            "data_timestamp",
            "model_id",
            "active_model_id",
            "prediction",
            "probability",
            "phase_id_at_time",
            "features",
            "prediction_duration_ms",
            "created_at",
        ],
        "prediction_webhook_log": [
            "id",
            "coin_id",
            "data_timestamp",
            "webhook_url",
            "payload",
            "response_status",
            "response_body",
            "error_message",
            "created_at",
        ],
    }
    for table, names in expected.items():
        for name in names:
            assert (table, name) in cols, f"{table}.{name} missing"
    threshold = cols[("prediction_active_models", "alert_threshold")]
    assert threshold["data_type"] == "numeric"
    assert (threshold["numeric_precision"], threshold["numeric_scale"]) == (5, 4)
    assert threshold["column_default"].startswith("0.7")
    assert cols[("prediction_active_models", "features")]["data_type"] == "jsonb"
    assert cols[("predictions", "probability")]["numeric_scale"] == 4


async def test_codecs_numeric_is_float_and_jsonb_round_trips(pool: asyncpg.Pool) -> None:
    value = await pool.fetchval("SELECT 0.000000012345678901::numeric(30,18)")
    assert isinstance(value, float)
    assert value == pytest.approx(1.2345678901e-08, rel=1e-12)
    doc = {"features": ["a", "b"], "n": 1}
    row = await pool.fetchval("SELECT $1::jsonb", doc)
    assert row == doc
    # stored as an object, not as a JSON string (no double encoding)
    assert await pool.fetchval("SELECT jsonb_typeof($1::jsonb)", doc) == "object"
