"""A slow figure is not an outage: the hour's prediction count runs apart from the liveness
probe, so while it cannot finish the database still reports connected and the last count."""

from __future__ import annotations

import asyncpg

from ml_prediction_service.observability.health import HealthMonitor
from ml_prediction_service.observability.metrics import Metrics

INSERT_TWO = """
INSERT INTO predictions (coin_id, data_timestamp, model_id, prediction, probability,
                         prediction_duration_ms)
VALUES ('A', now(), 1, 1, 0.9, 4), ('B', now(), 1, 0, 0.1, 6)
"""


async def test_a_count_that_cannot_finish_leaves_the_probe_connected(
    pool: asyncpg.Pool, db_dsn: str
) -> None:
    metrics = Metrics()
    health = HealthMonitor(pool, metrics, interval=0.5)
    await pool.execute(INSERT_TWO)
    await health.refresh_last_hour()
    state = await health.check_once()
    assert state.connected and state.predictions_last_hour == 2

    blocker = await asyncpg.connect(db_dsn)
    try:
        tx = blocker.transaction()
        await tx.start()
        # Another session holds predictions: the count waits behind it past its deadline.
        await blocker.execute("LOCK TABLE predictions IN ACCESS EXCLUSIVE MODE")
        await health.refresh_last_hour(deadline_seconds=0.5)
        state = await health.check_once(deadline_seconds=1.5)
        assert state.connected, state.last_error
        assert state.last_error is None
        assert state.predictions_last_hour == 2  # the last count, kept
        assert metrics.errors_total.labels(type="db")._value.get() == 0
        await tx.rollback()
    finally:
        await blocker.close()

    await pool.execute(INSERT_TWO.replace("'A'", "'C'").replace("'B'", "'D'"))
    await health.refresh_last_hour()
    assert (await health.check_once()).predictions_last_hour == 4
