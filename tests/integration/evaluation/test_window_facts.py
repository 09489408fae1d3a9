"""The evaluator's window facts (``evaluations_repo.window_facts``: each coin's rows read
once for all its windows in the call, the windows cut in Python) against the replay's rule
(``rules.facts_from_rows``) on the same rows: NaN and NULL values skipped for the extremes,
ties to the earliest row, an empty window, the horizon between rows, a coin without rows
after the horizon, several overlapping windows of one coin in one call; and the per-window
query's facts for a window whose own row is not there."""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg

from ml_prediction_service.db import evaluations_repo
from ml_prediction_service.db.evaluations_repo import Due
from ml_prediction_service.evaluation import rules
from ml_prediction_service.stand_ins.ddl import create_dev_schema
from tests.support.metrics import T0, coin_rows, insert_metrics

S = timedelta(seconds=5)
# price_close of W1's rows, 5 s apart: NaN twice, a NULL, the high (3.0) twice and the low
# (0.5) twice, so ties must go to the earliest row (NUMERIC(30, 18) holds no infinity)
PRICES = [
    "1.0", "2.0", "NaN", "3.0", None, "NaN", "0.5", "3.0", "0.75", "0.5", "1.5", "2.5", "1.25",
]  # fmt: skip


async def _store(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await create_dev_schema(conn)  # the collector's coin_metrics (stand-in DDL)
    await insert_metrics(pool, coin_rows("W1", len(PRICES), step_seconds=5))
    await insert_metrics(pool, coin_rows("W2", 3, step_seconds=5, seed=4))
    for i, price in enumerate(PRICES):
        await pool.execute(
            "UPDATE coin_metrics SET price_close = $3::numeric "
            'WHERE mint = $1 AND "timestamp" = $2',
            "W1",
            T0 + i * S,
            price,
        )


def _due(mint: str, at: datetime, horizon: datetime) -> Due:
    return Due(mint, at, 1, horizon, 0, horizon)


async def test_window_facts_equal_the_replay_rule(pool: asyncpg.Pool) -> None:
    await _store(pool)
    cases = [
        _due("W1", T0, T0 + 12 * S),  # the whole history: every special value inside
        _due("W1", T0, T0 + 7 * S + S / 2),  # horizon between rows
        _due("W1", T0 + 2 * S, T0 + 6 * S),  # starts on the NaN row
        _due("W1", T0 + 4 * S, T0 + 5 * S),  # starts on NULL; only a NaN inside
        _due("W1", T0 + 11 * S, T0 + 11 * S + S / 2),  # empty window
        _due("W1", T0 + 10 * S, T0 + 60 * S),  # past the coin's last row (dead coin)
        _due("W2", T0 + S, T0 + 2 * S),  # another coin in the same call
    ]
    found = await evaluations_repo.window_facts(pool, "price_close", cases)

    rows = await pool.fetch(
        'SELECT mint, "timestamp", price_close::float8 AS v FROM coin_metrics '
        "WHERE mint IN ('W1', 'W2') ORDER BY mint, \"timestamp\""
    )
    history: dict[str, tuple[list[datetime], list[float | None]]] = {"W1": ([], []), "W2": ([], [])}
    for r in rows:
        history[r["mint"]][0].append(r["timestamp"])
        history[r["mint"]][1].append(r["v"])
    for due, facts in zip(cases, found, strict=True):
        timestamps, values = history[due.coin_id]
        expected = rules.facts_from_rows(
            timestamps, values, timestamps.index(due.data_timestamp), due.horizon_at
        )
        assert _comparable(facts) == _comparable(expected), due

    whole = found[0]
    assert (whole.max_value, whole.max_at) == (3.0, T0 + 3 * S)  # the earlier of the two
    assert (whole.min_value, whole.min_at) == (0.5, T0 + 6 * S)
    assert (whole.end_value, whole.end_timestamp) == (1.25, T0 + 12 * S)
    assert found[3].max_value is None and found[3].min_value is None  # only a NaN
    assert found[4].max_at is None and found[4].end_timestamp == T0 + 11 * S
    assert found[5].last_timestamp == T0 + 12 * S


async def test_windows_without_their_own_row(pool: asyncpg.Pool) -> None:
    """What the per-window query gave: no start value, the end row the newest at or before
    the horizon (even one before the window), the extremes from the rows inside."""
    await _store(pool)
    between = _due("W1", T0 + S / 2, T0 + 3 * S)  # starts between rows 0 and 1
    nothing_inside = _due("W1", T0 + 11 * S + S / 4, T0 + 11 * S + S / 2)
    before = _due("W2", T0 - 10 * S, T0 - S)  # the coin has no row up to the horizon
    # the earliest window starts last in the call: the coin's range must still cover it
    found = await evaluations_repo.window_facts(
        pool, "price_close", [nothing_inside, before, between]
    )
    inside, early, mid = found
    assert (mid.start_value, mid.end_value, mid.end_timestamp) == (None, 3.0, T0 + 3 * S)
    assert (mid.max_value, mid.max_at, mid.min_value, mid.min_at) == (
        3.0,
        T0 + 3 * S,
        2.0,
        T0 + S,
    )
    assert (inside.start_value, inside.max_value, inside.min_value) == (None, None, None)
    assert (inside.end_value, inside.end_timestamp) == (2.5, T0 + 11 * S)
    assert (early.start_value, early.end_value, early.end_timestamp) == (None, None, None)
    assert early.last_timestamp == T0 + 2 * S


def _comparable(facts: rules.WindowFacts) -> tuple[object, ...]:
    """The facts, NaN compared as a value (two NaN start values are the same fact)."""
    values = (
        facts.start_value,
        facts.end_value,
        facts.end_timestamp,
        facts.max_value,
        facts.max_at,
        facts.min_value,
        facts.min_at,
        facts.last_timestamp,
    )
    return tuple("NaN" if v != v else v for v in values)
