"""The partition keeper on a real database partitioned by 10 minutes, its clock set by the
test: partitions ahead, drops on schedule, rows inside retention kept, the rollup, the
DEFAULT partition, open deliveries, two keepers at once."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest

from ml_prediction_service.db import partitions, rollup_repo
from ml_prediction_service.observability.metrics import Metrics
from tests.integration.retention.conftest import INTERVAL, MinutesDb
from tests.support.retention import (
    add_delivery,
    add_evaluation,
    add_model,
    add_prediction,
    where_is,
)


def _sample(metrics: Metrics, name: str, table: str) -> float:
    for family in metrics.registry.collect():
        for sample in family.samples:
            if sample.name == name and sample.labels.get("table") == table:
                return float(sample.value)
    return 0.0


def _same(got: list[dict[str, object]], want: list[dict[str, object]]) -> bool:
    """Equal rows; sums of floats equal up to rounding (their order of addition differs)."""
    if len(got) != len(want):
        return False
    for a, b in zip(got, want, strict=True):
        if a.keys() != b.keys():
            return False
        for key, value in a.items():
            if key.startswith("sum_"):
                if value != pytest.approx(b[key]):
                    return False
            elif value != b[key]:
                return False
    return True


async def _names(db: MinutesDb, table: str) -> list[str]:
    async with db.pool.acquire() as conn:
        state = await partitions.inspect(conn, table)
    assert state is not None and state.partitioned
    return [p.name for p in state.ranges]


async def test_partitions_are_created_ahead_and_dropped_after_retention(
    minutes_db: MinutesDb, tmp_path: Path
) -> None:
    db, t0 = minutes_db, minutes_db.t0
    metrics = Metrics()
    keeper = db.keeper(tmp_path, metrics)
    active = await add_model(db.pool)
    early = await add_prediction(db.pool, active, "A", t0 + timedelta(minutes=5))
    later = await add_prediction(db.pool, active, "B", t0 + timedelta(minutes=15))
    name = partitions.partition_name
    assert await _names(db, "predictions") == [
        name("predictions", t0 + INTERVAL * k) for k in range(4)
    ]

    # 25 minutes on: partitions reach 3 intervals past the current one; nothing expired yet
    # (the first range ends at +10 min, retention is 20 min)
    first = await keeper.run_once(t0 + timedelta(minutes=25))
    assert not first.errors and not first.dropped
    expected = [name("predictions", t0 + INTERVAL * k) for k in range(6)]
    assert await _names(db, "predictions") == expected
    assert name("predictions", t0 + INTERVAL * 4) in first.created
    assert await where_is(db.pool, "predictions", early) == name("predictions", t0)

    # 35 minutes on: the first range [t0, t0+10m) is wholly older than 20 minutes: dropped;
    # the second ends at t0+20m, newer than now - retention (t0+15m): kept
    second = await keeper.run_once(t0 + timedelta(minutes=35))
    assert not second.errors
    assert name("predictions", t0) in [d.partition for d in second.dropped]
    assert await where_is(db.pool, "predictions", early) is None
    assert await where_is(db.pool, "predictions", later) == name("predictions", t0 + INTERVAL)
    names = await _names(db, "predictions")
    assert names[0] == name("predictions", t0 + INTERVAL)
    assert names[-1] == name("predictions", t0 + INTERVAL * 6)
    assert _sample(metrics, "ml_partitions_dropped_total", "predictions") == 1
    assert _sample(metrics, "ml_partitions", "predictions") == len(names)
    # the same for the log; evaluations keep theirs longer (60 minutes)
    assert name("prediction_webhook_log", t0) not in await _names(db, "prediction_webhook_log")
    assert name("prediction_evaluations", t0) in await _names(db, "prediction_evaluations")

    # the same clock again: nothing to do (idempotent)
    again = await keeper.run_once(t0 + timedelta(minutes=35))
    assert not again.created and not again.dropped and not again.errors
    assert await _names(db, "predictions") == names

    # evaluations go after their own retention
    late = await keeper.run_once(t0 + timedelta(minutes=75))
    assert name("prediction_evaluations", t0) in [d.partition for d in late.dropped]
    assert not late.errors


async def test_zero_retention_keeps_everything(minutes_db: MinutesDb, tmp_path: Path) -> None:
    db, t0 = minutes_db, minutes_db.t0
    keeper = db.keeper(tmp_path, predictions_retention_days=0)
    active = await add_model(db.pool)
    kept = await add_prediction(db.pool, active, "A", t0 + timedelta(minutes=1))
    report = await keeper.run_once(t0 + timedelta(days=2))
    assert not report.errors
    assert "predictions" not in {d.table for d in report.dropped}
    assert await where_is(db.pool, "predictions", kept) == partitions.partition_name(
        "predictions", t0
    )
    assert "prediction_webhook_log" in {d.table for d in report.dropped}


async def test_the_rollup_outlives_the_dropped_rows(minutes_db: MinutesDb, tmp_path: Path) -> None:
    db, t0 = minutes_db, minutes_db.t0
    keeper = db.keeper(tmp_path)
    active = await add_model(db.pool)
    # predictions in the first partition (dropped) and the second (kept), evaluations of some
    facts = []  # (prediction, is_alert, target_hit, change) of the first partition's rows
    for i in range(12):
        at = t0 + timedelta(minutes=1, seconds=i)
        prediction, alert = i % 2, i % 4 == 1
        hit = None if i == 0 else i % 3 != 0
        change = None if hit is None else float(i) - 4.5
        pid = await add_prediction(
            db.pool,
            active,
            f"C{i}",
            at,
            prediction=prediction,
            is_alert=alert,
            probability=0.1 * (i % 10),
        )
        await add_evaluation(
            db.pool,
            pid,
            active,
            f"C{i}",
            at,
            prediction=prediction,
            is_alert=alert,
            target_hit=hit,
            change=change,
        )
        facts.append((prediction, alert, hit, change))
    await add_prediction(db.pool, active, "LATER", t0 + timedelta(minutes=12), prediction=1)
    day = t0.date()
    flt = rollup_repo.DailyStatsFilter(since=day, until=day, active_model_id=active)
    before = await rollup_repo.daily_stats(db.pool, flt)

    report = await keeper.run_once(t0 + timedelta(minutes=35))  # drops the first predictions range
    assert partitions.partition_name("predictions", t0) in [d.partition for d in report.dropped]
    assert await db.pool.fetchval("SELECT count(*) FROM predictions") == 1
    assert _same(await rollup_repo.daily_stats(db.pool, flt), before)  # raw + rollup: unchanged

    rolled = await rollup_repo.daily_stats(db.pool, flt, include_raw=False)
    assert len(rolled) == 1
    row = rolled[0]
    assert row["predictions"] == len(facts)
    assert row["positives"] == sum(p for p, _, _, _ in facts)
    assert row["alerts"] == sum(a for _, a, _, _ in facts)
    assert row["evaluated"] == 0  # evaluations are still stored: counted raw

    await keeper.run_once(t0 + timedelta(minutes=75))  # now the evaluations' range goes too
    assert await db.pool.fetchval("SELECT count(*) FROM prediction_evaluations") == 0
    assert _same(await rollup_repo.daily_stats(db.pool, flt), before)
    row = (await rollup_repo.daily_stats(db.pool, flt, include_raw=False))[0]
    labelled = [f for f in facts if f[2] is not None]
    assert row["evaluated"] == len(facts)
    assert row["not_applicable"] == len(facts) - len(labelled)
    assert row["true_positives"] == sum(1 for p, _, h, _ in labelled if p == 1 and h)
    assert row["false_positives"] == sum(1 for p, _, h, _ in labelled if p == 1 and not h)
    assert row["true_negatives"] == sum(1 for p, _, h, _ in labelled if p == 0 and not h)
    assert row["false_negatives"] == sum(1 for p, _, h, _ in labelled if p == 0 and h)
    assert row["targets_hit"] == sum(1 for _, _, h, _ in labelled if h)
    assert row["alerts_true"] == sum(1 for _, a, h, _ in labelled if a and h)
    assert row["alerts_evaluated"] == sum(1 for _, a, _, _ in labelled if a)
    changes = [c for _, a, _, c in facts if a and c is not None]
    assert row["sum_realised_change_after_alert"] == pytest.approx(sum(changes))
    assert row["alerts_with_change"] == len(changes)


async def test_default_partition_rows_are_kept_and_moved_into_their_range(
    minutes_db: MinutesDb, tmp_path: Path
) -> None:
    db, t0 = minutes_db, minutes_db.t0
    metrics = Metrics()
    keeper = db.keeper(tmp_path, metrics)
    active = await add_model(db.pool)
    ahead = t0 + timedelta(hours=2, minutes=3)  # beyond the created ranges
    old = t0 - timedelta(days=3)  # before them (a replay of old data)
    future_id = await add_prediction(db.pool, active, "F", ahead)
    old_id = await add_prediction(db.pool, active, "O", old)
    future_delivery = await add_delivery(db.pool, "F", ahead, "delivered", "k-future")
    assert await where_is(db.pool, "predictions", future_id) == "predictions_default"

    first = await keeper.run_once(t0)
    assert first.default_rows["predictions"] == 2
    assert _sample(metrics, "ml_partition_default_rows", "predictions") == 2

    # two hours on, the keeper creates the range of the waiting row: it moves in
    report = await keeper.run_once(ahead)
    assert not report.errors
    home = partitions.partition_name("predictions", partitions.align_down(ahead, INTERVAL))
    assert await where_is(db.pool, "predictions", future_id) == home
    assert await where_is(db.pool, "prediction_webhook_outbox", future_delivery) == (
        partitions.partition_name(
            "prediction_webhook_outbox", partitions.align_down(ahead, INTERVAL)
        )
    )
    assert report.moved == 2
    # the old row stays in the DEFAULT partition, through every drop: never lost
    assert report.dropped
    assert await where_is(db.pool, "predictions", old_id) == "predictions_default"
    assert report.default_rows["predictions"] == 1
    assert _sample(metrics, "ml_partition_default_rows", "predictions") == 1
    assert await db.pool.fetchval("SELECT count(*) FROM predictions") == 2


async def test_an_outbox_partition_with_open_deliveries_is_kept(
    minutes_db: MinutesDb, tmp_path: Path
) -> None:
    db, t0 = minutes_db, minutes_db.t0
    keeper = db.keeper(tmp_path)
    at = t0 + timedelta(minutes=2)
    done = await add_delivery(db.pool, "A", at, "delivered", "k1")
    waiting = await add_delivery(db.pool, "B", at, "pending", "k2")
    first = partitions.partition_name("prediction_webhook_outbox", t0)

    report = await keeper.run_once(t0 + timedelta(minutes=40))
    assert report.kept_open == [first]
    assert not report.errors
    assert await where_is(db.pool, "prediction_webhook_outbox", done) == first
    # the log's partition of the same range is not held back by it
    assert partitions.partition_name("prediction_webhook_log", t0) in [
        d.partition for d in report.dropped
    ]

    await db.pool.execute(
        "UPDATE prediction_webhook_outbox SET status = 'expired' WHERE id = $1", waiting
    )
    report = await keeper.run_once(t0 + timedelta(minutes=41))
    assert first in [d.partition for d in report.dropped]
    assert await where_is(db.pool, "prediction_webhook_outbox", waiting) is None


async def test_a_keeper_that_died_after_detaching_is_finished_by_the_next(
    minutes_db: MinutesDb, tmp_path: Path
) -> None:
    db, t0 = minutes_db, minutes_db.t0
    active = await add_model(db.pool)
    await add_prediction(db.pool, active, "A", t0 + timedelta(minutes=1), prediction=1)
    first = partitions.partition_name("predictions", t0)
    async with db.pool.acquire() as conn:
        state = await partitions.inspect(conn, "predictions")
        assert state is not None
        assert await partitions.detach(conn, partitions.PREDICTIONS, state.ranges[0])
    # ... and the keeper died here: the next round rolls it up and drops it
    report = await db.keeper(tmp_path).run_once(t0)
    assert [(d.table, d.partition, d.rows) for d in report.dropped] == [("predictions", first, 1)]
    assert await db.pool.fetchval("SELECT to_regclass($1)", first) is None
    rolled = await rollup_repo.daily_stats(
        db.pool, rollup_repo.DailyStatsFilter(t0.date(), t0.date()), include_raw=False
    )
    assert [(r["predictions"], r["positives"]) for r in rolled] == [(1, 1)]


async def test_two_keepers_at_once_do_each_step_once(minutes_db: MinutesDb, tmp_path: Path) -> None:
    db, t0 = minutes_db, minutes_db.t0
    active = await add_model(db.pool)
    for k in range(8):
        await add_prediction(db.pool, active, f"K{k}", t0 + INTERVAL * k + timedelta(seconds=5))
    keepers = [db.keeper(tmp_path / str(i)) for i in range(2)]
    dropped: list[str] = []
    for step in range(1, 9):
        now = t0 + INTERVAL * step + timedelta(minutes=1)
        rounds = await asyncio.gather(*(k.run_once(now) for k in keepers))
        for r in rounds:
            assert not r.errors, r.errors
            dropped += [d.partition for d in r.dropped if d.table == "predictions"]
        # a skipped round (the other held the lock) leaves work for the next: catch up
        await keepers[0].run_once(now)
    names = await _names(db, "predictions")
    assert len(dropped) == len(set(dropped))
    # every range wholly older than 20 minutes is gone; the rest, and 3 ahead, are there
    final = t0 + INTERVAL * 8 + timedelta(minutes=1)
    for k in range(12):
        lo = t0 + INTERVAL * k
        there = partitions.partition_name("predictions", lo) in names
        assert there == (lo + INTERVAL > final - timedelta(minutes=20)), (k, names)
    assert await db.pool.fetchval("SELECT count(*) FROM predictions") == sum(
        1 for k in range(8) if t0 + INTERVAL * (k + 1) > final - timedelta(minutes=20)
    )


async def test_a_lock_not_granted_in_time_is_a_retry_not_an_error(
    minutes_db: MinutesDb, tmp_path: Path
) -> None:
    db, t0 = minutes_db, minutes_db.t0
    metrics = Metrics()
    keeper = db.keeper(tmp_path, metrics)
    active = await add_model(db.pool)
    early = await add_prediction(db.pool, active, "A", t0 + timedelta(minutes=5))
    async with db.pool.acquire() as reader, reader.transaction():
        # a long reader of predictions: the keeper's DETACH cannot get its lock in time
        await reader.execute("LOCK TABLE predictions IN ACCESS SHARE MODE")
        busy = await keeper.run_once(t0 + timedelta(minutes=35))
    assert not busy.errors, busy.errors
    assert "predictions" in busy.lock_retries
    assert await where_is(db.pool, "predictions", early) == partitions.partition_name(
        "predictions", t0
    )
    assert _sample(metrics, "ml_partition_lock_retries_total", "predictions") >= 1
    errors = [
        s.value
        for f in metrics.registry.collect()
        for s in f.samples
        if s.name == "ml_errors_total" and s.labels.get("type") == "partition_keeper"
    ]
    assert sum(errors) == 0
    # the next round, with the reader gone, does it
    free = await keeper.run_once(t0 + timedelta(minutes=35))
    assert not free.errors and not free.lock_retries
    assert await where_is(db.pool, "predictions", early) is None


async def test_the_keeper_never_queues_for_a_lock_that_writers_need(
    minutes_db: MinutesDb, tmp_path: Path
) -> None:
    """While a reader keeps the DETACH from its lock, the keeper's request never waits in the
    lock queue (where every later INSERT would wait behind it): no ungranted lock shows in
    pg_locks, and a writer's insert goes through while the keeper is still trying."""
    db, t0 = minutes_db, minutes_db.t0
    keeper = db.keeper(tmp_path)
    active = await add_model(db.pool)
    await add_prediction(db.pool, active, "A", t0 + timedelta(minutes=5))
    async with db.pool.acquire() as reader, reader.transaction():
        # the parent only: creating the next partitions (SHARE UPDATE EXCLUSIVE on the
        # parent, the DEFAULT partition) goes on, the DETACH cannot have its lock
        await reader.execute("LOCK TABLE ONLY predictions IN ACCESS SHARE MODE")
        trying = asyncio.ensure_future(keeper.run_once(t0 + timedelta(minutes=35)))
        waiting: list[asyncpg.Record] = []
        inserted_while_trying = False
        for _ in range(300):  # bounded: until the keeper gave up (its poll budget)
            if trying.done():
                break
            waiting += await reader.fetch(
                "SELECT relation::regclass::text AS rel, mode FROM pg_locks "
                "WHERE NOT granted AND locktype = 'relation'"
            )
            if not inserted_while_trying:
                await add_prediction(db.pool, active, "B", t0 + timedelta(minutes=36))
                inserted_while_trying = not trying.done()
            await asyncio.sleep(0.01)
        busy = await asyncio.wait_for(trying, 30)
    assert waiting == [], f"lock requests waited in the queue: {waiting}"
    assert inserted_while_trying
    assert "predictions" in busy.lock_retries and not busy.errors
