"""Databases partitioned by 10 minutes, built from nothing (the template's are daily), and a
keeper whose clock the test sets."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from ml_prediction_service.db import partitions
from ml_prediction_service.db.pool import connect, create_pool
from ml_prediction_service.db.schema import migrate
from ml_prediction_service.observability.metrics import Metrics
from ml_prediction_service.retention.keeper import PartitionKeeper
from tests.support.pg import PgTestServer, with_database
from tests.support.settings import service_settings

INTERVAL = timedelta(minutes=10)
MINUTE_IN_DAYS = 1 / 1440


@dataclass
class MinutesDb:
    dsn: str
    pool: asyncpg.Pool
    t0: datetime  # start of the interval the database was migrated in

    def keeper(
        self, tmp_path: Path, metrics: Metrics | None = None, **overrides: object
    ) -> PartitionKeeper:
        values: dict[str, object] = {
            "partition_interval": INTERVAL,
            "partitions_ahead": 3,
            "predictions_retention_days": 20 * MINUTE_IN_DAYS,
            "webhook_log_retention_days": 20 * MINUTE_IN_DAYS,
            "outbox_retention_days": 20 * MINUTE_IN_DAYS,
            "evaluations_retention_days": 60 * MINUTE_IN_DAYS,
        }
        values.update(overrides)
        settings = service_settings(tmp_path, training_url=None, **values)
        return PartitionKeeper(self.pool, settings, metrics or Metrics())


async def empty_database(server: PgTestServer) -> str:
    name = f"r_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(server.admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return name


@pytest.fixture
async def minutes_db(pg_server: PgTestServer) -> AsyncIterator[MinutesDb]:
    name = await empty_database(pg_server)
    dsn = with_database(pg_server.admin_dsn, name)
    conn = await connect(dsn)
    try:
        await migrate(conn, partition_interval=INTERVAL, partitions_ahead=3)
        state = await partitions.inspect(conn, "predictions")
    finally:
        await conn.close()
    assert state is not None
    t0 = state.ranges[0].lo
    assert t0 is not None
    pool = await create_pool(dsn, min_size=1, max_size=4, connect_timeout=10)
    try:
        yield MinutesDb(dsn, pool, t0)
    finally:
        await pool.close()
        await pg_server.drop_database(name)


@pytest.fixture
async def old_shape_dsn(pg_server: PgTestServer) -> AsyncIterator[str]:
    """A database with the schema as migrations 0001-0011 left it: nothing partitioned."""
    name = await empty_database(pg_server)
    dsn = with_database(pg_server.admin_dsn, name)
    conn = await connect(dsn)
    try:
        await migrate(conn, up_to=11)
    finally:
        await conn.close()
    yield dsn
    await pg_server.drop_database(name)
