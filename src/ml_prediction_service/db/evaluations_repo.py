"""Queries of the live outcome evaluation (docs/evaluation.md): the due rows the pipeline
queues (``prediction_evaluation_due``), the window facts from ``coin_metrics``, and
``prediction_evaluations`` (written by the evaluator, read by the API).

``coin_metrics`` columns come only from ``features.BASE_COLUMNS`` (``metrics_repo.float_expr``
refuses anything else): a model's ``target_variable`` is never interpolated unchecked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

import asyncpg

from ml_prediction_service.db.filters import Filter, condition, fetch_page
from ml_prediction_service.db.metrics_repo import float_expr
from ml_prediction_service.db.pool import Executor
from ml_prediction_service.evaluation import rules
from ml_prediction_service.evaluation.rules import WindowFacts
from ml_prediction_service.features import BASE_COLUMNS

DueKey = tuple[str, datetime, int]  # (coin_id, data_timestamp, future_minutes)


@dataclass(frozen=True, slots=True)
class Due:
    coin_id: str
    data_timestamp: datetime
    future_minutes: int
    horizon_at: datetime
    checks: int
    check_at: datetime

    @property
    def key(self) -> DueKey:
        return (self.coin_id, self.data_timestamp, self.future_minutes)


# Due rows whose check time has come, a coin's together: the coins of the oldest due rows,
# oldest first, each with all its due rows (up to $1 rows in all, so a coin can be split
# between batches). A coin's windows overlap, and window_facts reads its rows once for all
# of them. Each coin's due rows come from the (coin_id, check_at) index in a lateral join
# (migration 0025): joined as a set, PostgreSQL read every due row of the table instead.
# Rows another replica holds are skipped in both steps, so replicas take different coins
# (each row is evaluated by one replica and deleted in the same transaction); an oldest row
# locked but cut off by the limit waits for the next batch. The database's now() comes
# along, so every decision of the round uses one clock.
CLAIM_DUE = """
WITH oldest AS (
    SELECT coin_id, check_at FROM prediction_evaluation_due
     WHERE check_at <= now()
     ORDER BY check_at
     LIMIT $1
       FOR UPDATE SKIP LOCKED
), coins AS MATERIALIZED (
    SELECT coin_id, min(check_at) AS first_at FROM oldest GROUP BY coin_id ORDER BY first_at
)
SELECT d.coin_id, d.data_timestamp, d.future_minutes, d.horizon_at, d.checks, d.check_at,
       now() AS now
  FROM coins c
 CROSS JOIN LATERAL (
       SELECT * FROM prediction_evaluation_due d
        WHERE d.coin_id = c.coin_id AND d.check_at <= now()
        ORDER BY d.check_at
          FOR UPDATE SKIP LOCKED) d
 LIMIT $1
"""


async def claim_due(conn: asyncpg.Connection, limit: int) -> tuple[list[Due], datetime | None]:
    """Up to ``limit`` due rows (locked until the transaction ends) and the database's now
    (None when nothing is due)."""
    rows = await conn.fetch(CLAIM_DUE, limit)
    due = [
        Due(
            r["coin_id"],
            r["data_timestamp"],
            int(r["future_minutes"]),
            r["horizon_at"],
            int(r["checks"]),
            r["check_at"],
        )
        for r in rows
    ]
    return due, (rows[0]["now"] if rows else None)


def _keys(keys: Sequence[DueKey]) -> tuple[list[str], list[datetime], list[int]]:
    return [k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys]


# The predictions a due row stands for: every prediction of that coin snapshot whose model
# has that horizon (its facts are copied into the evaluation).
PREDICTIONS_OF_DUE = """
SELECT p.id, p.coin_id, p.data_timestamp, p.model_id, p.active_model_id,
       p.probability::float8 AS probability, p.prediction, p.is_alert, p.tag, p.is_stale,
       p.suppressed, p.alert_threshold::float8 AS alert_threshold,
       a.target_variable, a.target_operator, a.target_value::float8 AS target_value,
       a.future_minutes, a.price_change_percent::float8 AS price_change_percent,
       a.target_direction
  FROM unnest($1::text[], $2::timestamptz[], $3::int[]) AS d(coin_id, ts, minutes)
  JOIN predictions p ON p.coin_id = d.coin_id AND p.data_timestamp = d.ts
  JOIN prediction_active_models a ON a.id = p.active_model_id AND a.future_minutes = d.minutes
 ORDER BY p.id
"""


async def predictions_of(conn: asyncpg.Connection, keys: Sequence[DueKey]) -> list[dict[str, Any]]:
    rows = await conn.fetch(PREDICTIONS_OF_DUE, *_keys(keys))
    return [dict(r) for r in rows]


@cache
def coin_rows_query(column: str) -> str:
    """Each coin's rows for ``column`` in one time range, read once for all of the coin's
    windows in a batch: every row in ``[lo, hi]`` and the newest row before ``lo`` (the end
    row of a window whose own row is gone and that has no row inside), as two arrays in time
    order (NULL when the coin has none), and the coin's newest timestamp overall
    (``last_ts``). ``$1`` mints, ``$2`` lo, ``$3`` hi; one row per input position (``idx``,
    1-based). Range scans of the collector's ``(mint, timestamp)`` index; each value is
    converted to float8 once; arrays, not a row per value, because decoding rows cost more
    than reading them."""
    v = float_expr(column)
    return f"""
        SELECT q.idx, l.ts AS last_ts, r.stamps, r.vals
          FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[])
               WITH ORDINALITY AS q(mint, lo, hi, idx)
          LEFT JOIN LATERAL (
               SELECT max(m."timestamp") AS ts FROM coin_metrics m WHERE m.mint = q.mint) l
            ON true
          LEFT JOIN LATERAL (
               SELECT array_agg(w.ts ORDER BY w.ts) AS stamps,
                      array_agg(w.v ORDER BY w.ts) AS vals
                 FROM ((SELECT m."timestamp" AS ts, {v} AS v FROM coin_metrics m
                         WHERE m.mint = q.mint AND m."timestamp" < q.lo
                         ORDER BY m."timestamp" DESC LIMIT 1)
                       UNION ALL
                       (SELECT m."timestamp", {v} FROM coin_metrics m
                         WHERE m.mint = q.mint AND m."timestamp" >= q.lo
                           AND m."timestamp" <= q.hi)) w
          ) r ON true
         ORDER BY q.idx
    """


def readable(column: str) -> bool:
    """Whether the evaluator can read ``column`` of ``coin_metrics`` (a base column)."""
    return column in BASE_COLUMNS


async def window_facts(
    conn: asyncpg.Connection, column: str, due: Sequence[Due]
) -> list[WindowFacts]:
    """The :class:`WindowFacts` of ``column`` for each due row, in order: each coin's rows
    are read once for all its due rows (from its earliest data timestamp to its latest
    horizon) and every window is cut from them (``rules.facts_at``). Each row read is a heap
    page (a coin's rows are spread over the table), so k windows of n rows, one row apart,
    cost about n + k rows instead of k × n (docs/evaluation.md, "A coin's windows read
    once")."""
    if not due:
        return []
    spans: dict[str, tuple[datetime, datetime]] = {}
    for d in due:
        lo, hi = spans.get(d.coin_id, (d.data_timestamp, d.horizon_at))
        spans[d.coin_id] = (min(lo, d.data_timestamp), max(hi, d.horizon_at))
    mints = list(spans)
    rows = await conn.fetch(
        coin_rows_query(column),
        mints,
        [spans[m][0] for m in mints],
        [spans[m][1] for m in mints],
    )
    coins: dict[str, tuple[list[datetime], list[float | None], datetime | None]] = {}
    for r in rows:
        coins[mints[r["idx"] - 1]] = (r["stamps"] or [], r["vals"] or [], r["last_ts"])
    finite = {m: rules.finite_values(values) for m, (_, values, _) in coins.items()}
    return [
        rules.facts_at(
            coins[d.coin_id][0],
            coins[d.coin_id][1],
            d.data_timestamp,
            d.horizon_at,
            coins[d.coin_id][2],
            finite[d.coin_id],
        )
        for d in due
    ]


# Exactly once per prediction: the primary key (prediction_id, data_timestamp) and ON
# CONFLICT DO NOTHING (no target: it holds on the partitioned table). RETURNING: the rows
# that are new (the evaluator counts and sends only those).
# What an outcome is (rules.Outcome + the horizon), in the live and the replay table alike.
OUTCOME_COLUMNS = (
    "horizon_at",
    "start_value",
    "end_value",
    "end_timestamp",
    "realised_change_pct",
    "max_change_pct",
    "max_at",
    "min_change_pct",
    "min_at",
    "target_hit",
    "result",
    "note",
)
EVALUATION_COLUMNS = (
    "prediction_id",
    "data_timestamp",
    "coin_id",
    "model_id",
    "active_model_id",
    "probability",
    "prediction",
    "is_alert",
    "tag",
    "target_variable",
    "future_minutes",
    "price_change_percent",
    "target_direction",
    *OUTCOME_COLUMNS,
)
_TYPES = (
    "bigint",
    "timestamptz",
    "text",
    "bigint",
    "bigint",
    "float8",
    "int",
    "bool",
    "text",
    "text",
    "int",
    "float8",
    "text",
    "timestamptz",
    "float8",
    "float8",
    "timestamptz",
    "float8",
    "float8",
    "timestamptz",
    "float8",
    "timestamptz",
    "bool",
    "text",
    "text",
)
INSERT_EVALUATIONS = f"""
INSERT INTO prediction_evaluations ({", ".join(EVALUATION_COLUMNS)})
SELECT {", ".join(f"e.{c}" for c in EVALUATION_COLUMNS)}
  FROM unnest({", ".join(f"${i + 1}::{t}[]" for i, t in enumerate(_TYPES))})
       AS e({", ".join(EVALUATION_COLUMNS)})
ON CONFLICT DO NOTHING
RETURNING prediction_id, data_timestamp, evaluated_at
"""


async def insert_evaluations(
    conn: asyncpg.Connection, rows: Sequence[dict[str, Any]]
) -> dict[int, datetime]:
    """Store evaluations (dicts with every ``EVALUATION_COLUMNS`` key); returns prediction
    id → evaluated_at of the rows that were new."""
    if not rows:
        return {}
    columns = [[r[c] for r in rows] for c in EVALUATION_COLUMNS]
    found = await conn.fetch(INSERT_EVALUATIONS, *columns)
    return {int(r["prediction_id"]): r["evaluated_at"] for r in found}


DELETE_DUE = """
DELETE FROM prediction_evaluation_due d
 USING unnest($1::text[], $2::timestamptz[], $3::int[]) AS k(coin_id, ts, minutes)
 WHERE d.coin_id = k.coin_id AND d.data_timestamp = k.ts AND d.future_minutes = k.minutes
"""

# A coin without rows after the horizon yet: checked again after $4 seconds, but never later
# than its dead-coin deadline (horizon + $5 seconds), when it is evaluated from its last row.
RECHECK_DUE = """
UPDATE prediction_evaluation_due d
   SET check_at = LEAST(now() + make_interval(secs => $4),
                        d.horizon_at + make_interval(secs => $5)),
       checks = d.checks + 1
  FROM unnest($1::text[], $2::timestamptz[], $3::int[]) AS k(coin_id, ts, minutes)
 WHERE d.coin_id = k.coin_id AND d.data_timestamp = k.ts AND d.future_minutes = k.minutes
"""


async def delete_due(conn: asyncpg.Connection, keys: Sequence[DueKey]) -> None:
    if keys:
        await conn.execute(DELETE_DUE, *_keys(keys))


async def recheck_due(
    conn: asyncpg.Connection,
    keys: Sequence[DueKey],
    *,
    retry_seconds: float,
    dead_coin_seconds: float,
) -> None:
    if keys:
        await conn.execute(
            RECHECK_DUE, *_keys(keys), float(retry_seconds), float(dead_coin_seconds)
        )


async def backlog(conn: Executor) -> int:
    """Due rows whose check time has come (not yet evaluated)."""
    sql = "SELECT count(*) FROM prediction_evaluation_due WHERE check_at <= now()"
    return int(await conn.fetchval(sql))


# -- reads ---------------------------------------------------------------------------------

READ_COLUMNS = """
    e.prediction_id, e.data_timestamp, e.coin_id, e.model_id, e.active_model_id,
    COALESCE(a.custom_name, a.model_name) AS model_name, e.probability, e.prediction,
    e.is_alert, e.tag, e.target_variable, e.future_minutes, e.price_change_percent,
    e.target_direction, e.horizon_at, e.start_value, e.end_value, e.end_timestamp,
    e.realised_change_pct, e.max_change_pct, e.max_at, e.min_change_pct, e.min_at,
    e.target_hit, e.result, e.note, e.evaluated_at
"""
_WITH_MODEL_NAME = (
    "prediction_evaluations e LEFT JOIN prediction_active_models a ON a.id = e.active_model_id"
)


@dataclass(frozen=True)
class EvaluationFilter(Filter):
    model_id: int | None = condition("e.model_id")
    active_model_id: int | None = condition("e.active_model_id")
    coin_id: str | None = condition("e.coin_id")
    result: str | None = condition("e.result")
    is_alert: bool | None = condition("e.is_alert")
    since: datetime | None = condition("e.data_timestamp", ">=")
    until: datetime | None = condition("e.data_timestamp", "<=")


async def list_evaluations(
    conn: Executor, flt: EvaluationFilter, *, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    return await fetch_page(
        conn,
        flt,
        columns=READ_COLUMNS,
        source=_WITH_MODEL_NAME,
        count_source="prediction_evaluations e",
        order_by="e.data_timestamp DESC, e.prediction_id DESC",
        limit=limit,
        offset=offset,
    )


async def get_evaluation(
    conn: Executor, prediction_id: int, data_timestamp: datetime
) -> dict[str, Any] | None:
    """A prediction's evaluation (``data_timestamp`` lets the lookup prune partitions)."""
    row = await conn.fetchrow(
        f"SELECT {READ_COLUMNS} FROM {_WITH_MODEL_NAME} "
        "WHERE e.prediction_id = $1 AND e.data_timestamp = $2",
        prediction_id,
        data_timestamp,
    )
    return dict(row) if row is not None else None


async def model_target(conn: Executor, active_model_id: int) -> dict[str, Any] | None:
    """What decides whether an active model's predictions are evaluated."""
    row = await conn.fetchrow(
        "SELECT future_minutes, target_operator FROM prediction_active_models WHERE id = $1",
        active_model_id,
    )
    return dict(row) if row is not None else None
