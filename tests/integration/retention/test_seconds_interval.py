"""Partitions of 10 seconds (the soak's short runs and tests): named by the second, created
ahead and dropped on schedule by the keeper, rows routed into them."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from ml_prediction_service.db import partitions
from ml_prediction_service.db.pool import connect, create_pool
from ml_prediction_service.db.schema import migrate
from ml_prediction_service.observability.metrics import Metrics
from ml_prediction_service.retention.keeper import PartitionKeeper
from tests.integration.retention.conftest import empty_database
from tests.support.pg import PgTestServer, with_database
from tests.support.retention import add_model, add_prediction, where_is
from tests.support.settings import service_settings

TEN_S = timedelta(seconds=10)


async def test_ten_second_partitions_are_kept_and_dropped(
    pg_server: PgTestServer, tmp_path: Path
) -> None:
    name = await empty_database(pg_server)
    dsn = with_database(pg_server.admin_dsn, name)
    conn = await connect(dsn)
    try:
        await migrate(conn, partition_interval=TEN_S, partitions_ahead=3)
        state = await partitions.inspect(conn, "predictions")
    finally:
        await conn.close()
    assert state is not None and state.partitioned
    t0 = state.ranges[0].lo
    assert t0 is not None
    assert [p.hi - p.lo for p in state.ranges if p.lo and p.hi] == [TEN_S] * 4
    pool = await create_pool(dsn, min_size=1, max_size=2, connect_timeout=10)
    try:
        settings = service_settings(
            tmp_path,
            partition_interval="10 seconds",
            partitions_ahead=3,
            predictions_retention_days=20 / 86400,  # 20 seconds
        )
        keeper = PartitionKeeper(pool, settings, Metrics())
        active = await add_model(pool)
        first = await add_prediction(pool, active, "A", t0 + timedelta(seconds=5))
        second = await add_prediction(pool, active, "B", t0 + timedelta(seconds=15))
        assert await where_is(pool, "predictions", first) == partitions.partition_name(
            "predictions", t0
        )

        # 29 s on: the first range ends at +10 s, retention 20 s: still kept
        report = await keeper.run_once(t0 + timedelta(seconds=29))
        assert not report.errors and not report.dropped
        # 31 s on: [t0, t0 + 10 s) is wholly older than 20 s: dropped; the second stays
        report = await keeper.run_once(t0 + timedelta(seconds=31))
        assert not report.errors
        dropped = [d.partition for d in report.dropped if d.table == "predictions"]
        assert dropped == [partitions.partition_name("predictions", t0)]
        assert await where_is(pool, "predictions", first) is None
        assert await where_is(pool, "predictions", second) == partitions.partition_name(
            "predictions", t0 + TEN_S
        )
        # ranges reach 3 intervals past the current one, each named by its own start
        async with pool.acquire() as conn:
            after = await partitions.inspect(conn, "predictions")
        assert after is not None
        names = [p.name for p in after.ranges]
        assert names[-1] == partitions.partition_name("predictions", t0 + TEN_S * 6)
        assert len(set(names)) == len(names)
    finally:
        await pool.close()
        await pg_server.drop_database(name)
