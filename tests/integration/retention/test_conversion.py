"""Converting the tables of a database that migrations 0001-0011 made (plain tables with
rows) into partitioned ones: every row kept, the keys, indexes, foreign key and sequences
carried over, a writer going on meanwhile, and the old rows dropped later as one partition."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from ml_prediction_service.db import partitions, predictions_repo, rollup_repo, webhooks_repo
from ml_prediction_service.db.pool import connect, create_pool
from ml_prediction_service.db.schema import migrate
from ml_prediction_service.observability.metrics import Metrics
from ml_prediction_service.retention.keeper import PartitionKeeper
from tests.integration.retention.test_keys import _batch
from tests.support.retention import add_delivery, add_evaluation, add_model, add_prediction
from tests.support.settings import service_settings
from tests.support.wait import eventually

KEYS = {
    "predictions": "id",
    "prediction_webhook_outbox": "id",
    "prediction_webhook_log": "id",
    "prediction_evaluations": "prediction_id",
}


async def _fill(conn: asyncpg.Connection, now: datetime) -> int:
    active = await add_model(conn)
    for i in range(120):
        at = now - timedelta(minutes=7 * i)
        pid = await add_prediction(
            conn, active, f"coin{i % 9}", at, prediction=i % 2, is_alert=i % 5 == 0
        )
        if i % 3 == 0:
            hit = i % 2 == 0
            await add_evaluation(
                conn,
                pid,
                active,
                f"coin{i % 9}",
                at,
                prediction=i % 2,
                is_alert=i % 5 == 0,
                target_hit=hit,
                change=1.5,
            )
    for i in range(30):
        status = "pending" if i == 0 else "delivered"
        await add_delivery(conn, f"coin{i}", now - timedelta(minutes=i), status, f"key{i}")
    await conn.execute(
        "INSERT INTO prediction_webhook_log (coin_id, data_timestamp, webhook_url, outcome, "
        "outbox_id, created_at) SELECT 'coin' || g, $1::timestamptz - g * interval '1 minute', "
        "'http://127.0.0.1:9/h', 'delivered', g, $1 FROM generate_series(1, 40) g",
        now,
    )
    return active


async def _snapshot(conn: asyncpg.Connection) -> dict[str, list[dict[str, Any]]]:
    return {
        t: [dict(r) for r in await conn.fetch(f"SELECT * FROM {t} ORDER BY {k}")]
        for t, k in KEYS.items()
    }


async def _index_names(conn: asyncpg.Connection, table: str) -> set[str]:
    rows = await conn.fetch("SELECT indexname FROM pg_indexes WHERE tablename = $1", table)
    return {r["indexname"] for r in rows}


async def test_tables_with_rows_become_partitioned_keeping_every_row(
    old_shape_dsn: str, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    conn = await connect(old_shape_dsn)
    try:
        active = await _fill(conn, now)
        filled = await _snapshot(conn)
        indexes = {t: await _index_names(conn, t) for t in KEYS}
        # dropped by 0023
        indexes["predictions"] -= {"idx_predictions_created", "idx_predictions_alerts"}
        indexes["prediction_evaluations"] -= {"idx_evaluations_evaluated"}

        # too big for migrate's own conversion (1 byte allowed): left for migrate --partition
        assert await migrate(conn, partition_max_bytes=1) == [
            "0020_retention",
            "0021_evaluation_webhooks",
            "0022_list_indexes",
            "0023_lighter_prediction_writes",
            "0024_outbox_model_objects",
            "0025_due_coin_check",
        ]
        # 0021 gave the existing deliveries their kind; nothing else changed
        before = await _snapshot(conn)
        outbox = "prediction_webhook_outbox"
        assert [r.pop("kind") for r in before[outbox]] == ["prediction"] * len(filled[outbox])
        assert before == filled
        before = await _snapshot(conn)
        for table in KEYS:
            state = await partitions.inspect(conn, table)
            assert state is not None and not state.partitioned

        await migrate(conn, partition_max_bytes=None)  # migrate --partition
        legacy_cutoffs = set()
        for table in KEYS:
            state = await partitions.inspect(conn, table)
            assert state is not None and state.partitioned, table
            legacy = state.ranges[0]
            assert legacy.name == f"{table}_legacy" and legacy.lo is None
            assert legacy.hi is not None and legacy.hi > now
            legacy_cutoffs.add(legacy.hi)
            assert state.default is not None
            # every index the old table had is on the partitioned one, by its name
            assert indexes[table] <= await _index_names(conn, table), table
            in_legacy = await conn.fetchval(f"SELECT count(*) FROM ONLY {table}_legacy")
            assert in_legacy == len(before[table])
        assert await _snapshot(conn) == before  # every row, every value

        # 0023 dropped the foreign key to the model registry, on the old table before the
        # conversion: none on the partitioned table or its partitions
        assert not await conn.fetchval(
            "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND conrelid IN "
            "(SELECT 'predictions'::regclass UNION ALL SELECT inhrelid FROM pg_inherits "
            " WHERE inhparent = 'predictions'::regclass)"
        )
        # the id sequence now belongs to the partitioned table
        assert await conn.fetchval("SELECT pg_get_serial_sequence('predictions', 'id')") == (
            "public.predictions_id_seq"
        )
        # idempotent writes against rows in the legacy partition
        old = before["predictions"][0]
        batch = _batch([old["coin_id"]], [old["data_timestamp"]], active)
        assert (await predictions_repo.insert_batch(conn, batch, [])).new_per_model == {}
        delivery = before["prediction_webhook_outbox"][3]
        await webhooks_repo.enqueue(
            conn,
            [
                (
                    delivery["coin_id"],
                    delivery["data_timestamp"],
                    delivery["webhook_url"],
                    {},
                    delivery["idempotency_key"],
                )
            ],
        )
        assert await conn.fetchval("SELECT count(*) FROM prediction_webhook_outbox") == len(
            before["prediction_webhook_outbox"]
        )
        found = await predictions_repo.get_prediction(conn, old["id"])
        assert found is not None and found["coin_id"] == old["coin_id"]
        new_id = await add_prediction(conn, active, "NEW", now)
        assert new_id > max(r["id"] for r in before["predictions"])
    finally:
        await conn.close()

    # later, the legacy partition goes as one once all of it is past retention; its
    # predictions are in the rollup; the outbox's is kept while a delivery is open in it
    (cutoff,) = legacy_cutoffs
    pool = await create_pool(old_shape_dsn, min_size=1, max_size=2, connect_timeout=10)
    try:
        settings = service_settings(
            tmp_path,
            training_url=None,
            predictions_retention_days=1,
            webhook_log_retention_days=1,
            outbox_retention_days=1,
        )
        keeper = PartitionKeeper(pool, settings, Metrics())
        report = await keeper.run_once(cutoff + timedelta(days=1, minutes=1))
        assert not report.errors, report.errors
        dropped = {d.partition: d.rows for d in report.dropped}
        total = len(before["predictions"]) + 1  # and NEW
        assert dropped["predictions_legacy"] == total
        assert "prediction_webhook_log_legacy" in dropped
        assert report.kept_open == ["prediction_webhook_outbox_legacy"]
        assert "prediction_evaluations_legacy" not in dropped  # 90 days
        days = sorted({r["data_timestamp"].astimezone(UTC).date() for r in before["predictions"]})
        rolled = await rollup_repo.daily_stats(
            pool, rollup_repo.DailyStatsFilter(days[0], days[-1]), include_raw=False
        )
        assert sum(r["predictions"] for r in rolled) == total
        # the sequence survived its first owner's partition
        assert await add_prediction(pool, active, "AFTER", now) > new_id
    finally:
        await pool.close()


async def test_a_writer_goes_on_while_a_table_is_converted(old_shape_dsn: str) -> None:
    now = datetime.now(UTC)
    conn = await connect(old_shape_dsn)
    writer = await connect(old_shape_dsn)
    try:
        active = await _fill(conn, now)
        await migrate(conn, partition_max_bytes=1)  # the rest of the schema, nothing converted
        start = await conn.fetchval("SELECT count(*) FROM predictions")
        written = 0
        errors: list[BaseException] = []
        stop = asyncio.Event()

        async def write() -> None:
            nonlocal written
            while not stop.is_set():
                try:
                    await add_prediction(writer, active, f"w{written}", datetime.now(UTC))
                    written += 1
                except asyncpg.PostgresError as exc:
                    errors.append(exc)
                await asyncio.sleep(0.002)

        task = asyncio.create_task(write())
        assert await eventually(lambda: written >= 10), "the writer does not write"
        await partitions.lock(conn)
        try:
            outcome = await partitions.convert(conn, partitions.PREDICTIONS)
        finally:
            await partitions.unlock(conn)
        during = written
        assert await eventually(lambda: written >= during + 10), "the writer stopped"
        stop.set()
        await task
        assert outcome == "converted"
        assert errors == []
        assert await conn.fetchval("SELECT count(*) FROM predictions") == start + written
        after = await conn.fetchval(
            "SELECT count(*) FROM predictions WHERE coin_id LIKE 'w%' "
            "AND tableoid <> 'predictions_legacy'::regclass"
        )
        assert after == 0  # rows older than the cutoff go to the legacy partition
    finally:
        await writer.close()
        await conn.close()
