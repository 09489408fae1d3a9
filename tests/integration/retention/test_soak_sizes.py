"""The soak's table sizes: the sums every table's partitions make, read without ever holding
one relation's lock while waiting for another's (a soak died of a deadlock with the
partition keeper: pg_partition_tree had locked the partitions, pg_total_relation_size then
waited for the parent, which the keeper's DETACH held while it wanted a partition)."""

from __future__ import annotations

import asyncio

import asyncpg

from ml_prediction_service.db import partitions, soak_repo
from ml_prediction_service.db.pool import connect
from tests.integration.retention.conftest import MinutesDb
from tests.support.retention import add_model, add_prediction


async def test_sizes_sum_each_tables_partitions(minutes_db: MinutesDb) -> None:
    model = await add_model(minutes_db.pool)
    for i in range(20):
        await add_prediction(minutes_db.pool, model, f"c{i}", minutes_db.t0)
    conn = await connect(minutes_db.dsn)
    try:
        sizes = {t.name: t for t in await soak_repo.table_sizes(conn)}
        expected = await conn.fetchval(
            "SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree('predictions')"
        )
        plain = await conn.fetchval("SELECT pg_total_relation_size('prediction_active_models')")
        leaves = await conn.fetchval(
            "SELECT count(*) FROM pg_partition_tree('predictions') WHERE isleaf"
        )
    finally:
        await conn.close()
    assert sizes["predictions"].bytes == expected > 0
    assert sizes["predictions"].partitions == leaves >= 2
    assert sizes["prediction_active_models"].bytes == plain
    assert sizes["prediction_active_models"].partitions == 0
    assert all(not name.startswith("predictions_") for name in sizes)  # partitions summed


async def test_sizes_wait_for_a_locked_table_holding_no_other_lock(minutes_db: MinutesDb) -> None:
    keeper = await connect(minutes_db.dsn)
    probe = await connect(minutes_db.dsn)
    try:
        probe_pid = probe.get_server_pid()
        tx = keeper.transaction()
        await tx.start()
        await keeper.execute("LOCK TABLE prediction_webhook_log IN ACCESS EXCLUSIVE MODE")
        reading = asyncio.ensure_future(soak_repo.table_sizes(probe))
        held: list[asyncpg.Record] = []
        for _ in range(200):  # bounded: until the probe waits for the locked table
            waits = await keeper.fetchval(
                "SELECT count(*) FROM pg_locks WHERE pid = $1 AND NOT granted", probe_pid
            )
            if waits:
                held = await keeper.fetch(
                    "SELECT relation::regclass::text AS rel, mode FROM pg_locks "
                    "WHERE pid = $1 AND granted AND locktype = 'relation'",
                    probe_pid,
                )
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError("the probe never waited for the locked table")
        # what the keeper's DROP does next: the other table, exclusively
        await keeper.execute("LOCK TABLE prediction_active_models IN ACCESS EXCLUSIVE MODE")
        await tx.commit()
        sizes = await asyncio.wait_for(reading, 30)
    finally:
        await keeper.close()
        await probe.close()
    assert held == [], f"the probe held {held} while waiting"
    assert {"prediction_webhook_log", "prediction_active_models"} <= {t.name for t in sizes}


async def test_a_partition_detached_for_dropping_still_counts_for_its_table(
    minutes_db: MinutesDb,
) -> None:
    model = await add_model(minutes_db.pool)
    for i in range(20):
        await add_prediction(minutes_db.pool, model, f"c{i}", minutes_db.t0)
    conn = await connect(minutes_db.dsn)
    try:
        before = {t.name: t for t in await soak_repo.table_sizes(conn)}
        state = await partitions.inspect(conn, "predictions")
        assert state is not None
        assert await partitions.detach(conn, partitions.PREDICTIONS, state.ranges[0])
        after = {t.name: t for t in await soak_repo.table_sizes(conn)}
    finally:
        await conn.close()
    assert not any(name.startswith("predictions_") for name in after), sorted(after)
    assert after["predictions"].bytes == before["predictions"].bytes
