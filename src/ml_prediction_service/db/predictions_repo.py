"""Queries for ``predictions``: one-round-trip idempotent writes, and reads for the API."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import asyncpg

from ml_prediction_service import jsoncodec
from ml_prediction_service.db.filters import Filter, condition, fetch_page
from ml_prediction_service.db.pool import Executor
from ml_prediction_service.models.explain import Reason

# One statement per batch. Coin-level values (text, timestamps) travel once per coin and
# model-level ones once per model; each prediction is (coin index, model index, stored
# probability, prediction, is_alert), decided once by models/decision.py on the value as
# stored (4 decimals). Idempotent on (coin, data timestamp, model). Reasons (alerts only, a
# few per batch) travel as JSON text in a per-prediction array, NULL for the rest (unnest pads a
# shorter array with NULLs: it ends at the last alert with reasons).
# The result: per model, how many rows were new, and which of those new rows' coins may
# need a webhook (fresh rows of the models listed in $13; routing filters them further).
# The same statement queues the outcome evaluation (docs/evaluation.md): one due row per
# (coin, data timestamp, horizon) among the new rows of models with a horizon ($18, per model;
# empty: none), checked first EVALUATION_SETTLE_SECONDS ($19) after the horizon. Reasons are
# $20.
INSERT_BATCH = """
WITH ins AS (
    INSERT INTO predictions (coin_id, data_timestamp, model_id, active_model_id, prediction,
                             probability, phase_id_at_time, prediction_duration_ms, is_stale,
                             is_alert, alert_threshold, event_received_at, created_at, tag,
                             suppressed, reasons)
    SELECT c.mint, c.ts, m.model_id, m.active_id, p.pred, p.prob::numeric(5, 4), c.phase,
           $9, c.stale, p.alert, m.threshold, c.received, clock_timestamp(),
           (ARRAY['negative', 'positive', 'alert'])[p.tag + 1], p.quiet, p.reasons::jsonb
      FROM unnest($10::int[], $11::int[], $12::float8[], $14::int[], $15::bool[], $16::int[],
                  $17::bool[], $20::text[])
           AS p(ci, mi, prob, pred, alert, tag, quiet, reasons)
      JOIN unnest($1::text[], $2::timestamptz[], $3::int[], $4::timestamptz[], $5::bool[])
           WITH ORDINALITY AS c(mint, ts, phase, received, stale, i) ON c.i = p.ci + 1
      JOIN unnest($6::bigint[], $7::bigint[], $8::float8[])
           WITH ORDINALITY AS m(model_id, active_id, threshold, i) ON m.i = p.mi + 1
    ON CONFLICT (coin_id, data_timestamp, active_model_id) DO NOTHING
    RETURNING active_model_id, coin_id, data_timestamp, is_stale
), due AS (
    INSERT INTO prediction_evaluation_due (coin_id, data_timestamp, future_minutes, horizon_at,
                                           check_at)
    SELECT DISTINCT ins.coin_id, ins.data_timestamp, h.minutes,
           ins.data_timestamp + make_interval(mins => h.minutes),
           ins.data_timestamp + make_interval(mins => h.minutes, secs => $19)
      FROM ins
      JOIN unnest($7::bigint[], $18::int[]) AS h(active_id, minutes)
        ON h.active_id = ins.active_model_id
     WHERE h.minutes > 0
    ON CONFLICT DO NOTHING
)
SELECT active_model_id, count(*) AS n,
       array_agg(coin_id) FILTER (WHERE NOT is_stale AND active_model_id = ANY($13::bigint[]))
           AS webhook_coins
  FROM ins GROUP BY active_model_id
"""


@dataclass(frozen=True, slots=True)
class PredictionBatch:
    """A batch's predictions in columnar form.

    Per coin (``coin_ids`` … ``stale``), per model (``model_ids`` … ``thresholds``), and per
    prediction: ``coin`` / ``model`` (0-based indices into those) and ``probability``.
    """

    coin_ids: list[str]
    data_timestamps: list[datetime]
    phase_ids: list[int | None]
    received_at: list[datetime | None]
    stale: list[bool]
    model_ids: list[int]
    active_model_ids: list[int]
    thresholds: list[float]
    coin: list[int]
    model: list[int]
    probability: list[float]  # as stored: rounded to 4 decimals (models/decision.py)
    prediction: list[int]
    is_alert: list[bool]
    tag: list[int]  # models/decision.py TAGS index
    suppressed: list[bool]  # inside the model's ignore window: stored, not sent
    duration_ms: int
    # per model: its horizon (future_minutes) when its predictions are to be evaluated, else
    # None; empty: nothing is queued for evaluation
    horizons: list[int | None] = field(default_factory=list)
    # (prediction index, its reasons) for the alerts that have them; the rest store NULL
    reasons: list[tuple[int, list[Reason]]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.probability)


@dataclass(frozen=True, slots=True)
class InsertResult:
    new_per_model: dict[int, int]  # active model id -> new rows (duplicates are not counted)
    webhook_coins: dict[int, list[str]]  # active model id -> coins of new, fresh rows


async def insert_batch(
    conn: asyncpg.Connection,
    batch: PredictionBatch,
    webhook_models: list[int],
    *,
    settle_seconds: float = 0.0,
) -> InsertResult:
    """Insert a batch in one round trip; reprocessed predictions are left as they are. New
    predictions of models with a horizon (``batch.horizons``) are queued for evaluation,
    first checked ``settle_seconds`` after the horizon."""
    if not len(batch):
        return InsertResult({}, {})
    records = await conn.fetch(
        INSERT_BATCH,
        batch.coin_ids,
        batch.data_timestamps,
        batch.phase_ids,
        batch.received_at,
        batch.stale,
        batch.model_ids,
        batch.active_model_ids,
        batch.thresholds,
        batch.duration_ms,
        batch.coin,
        batch.model,
        batch.probability,
        webhook_models,
        batch.prediction,
        batch.is_alert,
        batch.tag,
        batch.suppressed,
        batch.horizons,
        float(settle_seconds),
        _reasons_column(batch.reasons),
    )
    return InsertResult(
        {int(r["active_model_id"]): int(r["n"]) for r in records},
        {
            int(r["active_model_id"]): list(r["webhook_coins"])
            for r in records
            if r["webhook_coins"]
        },
    )


def _reasons_column(reasons: list[tuple[int, list[Reason]]]) -> list[str | None]:
    """Per prediction up to the last one with reasons: its reasons as JSON text, else None."""
    if not reasons:
        return []
    column: list[str | None] = [None] * (max(i for i, _ in reasons) + 1)
    for i, found in reasons:
        column[i] = jsoncodec.dumps_text(found)
    return column


# Two statements on purpose: the first takes the row locks in id order (an UPDATE ... FROM
# locks in whatever order its plan visits rows), so concurrent batches never deadlock.
# NO KEY UPDATE, like the UPDATE itself: it does not conflict with KEY SHARE locks other
# tables' foreign keys (webhook windows, replays) take on these rows.
LOCK_MODELS = """
SELECT id FROM prediction_active_models WHERE id = ANY($1::bigint[]) ORDER BY id
   FOR NO KEY UPDATE
"""
BUMP_COUNTERS = """
UPDATE prediction_active_models a
   SET total_predictions = COALESCE(a.total_predictions, 0) + c.n,
       last_prediction_at = now()
  FROM (SELECT unnest($1::bigint[]) AS id, unnest($2::bigint[]) AS n) c
 WHERE a.id = c.id
"""


async def bump_counters(conn: asyncpg.Connection, counts: dict[int, int]) -> None:
    if not counts:
        return
    ids = sorted(counts)
    await conn.execute(LOCK_MODELS, ids)
    await conn.execute(BUMP_COUNTERS, ids, [counts[i] for i in ids])


# -- reads --------------------------------------------------------------------------------

PREDICTION_COLUMNS = """
    p.id, p.coin_id, p.data_timestamp, p.model_id, p.active_model_id, p.prediction,
    p.probability, p.phase_id_at_time, p.features, p.prediction_duration_ms, p.created_at,
    p.is_stale, p.is_alert, p.alert_threshold, p.event_received_at, p.tag, p.suppressed,
    p.reasons, COALESCE(a.custom_name, a.model_name) AS model_name
"""


# Predictions with their model's display name (PREDICTION_COLUMNS reads a.*).
_WITH_MODEL_NAME = "predictions p LEFT JOIN prediction_active_models a ON a.id = p.active_model_id"


MODEL_OF_ACTIVE = "SELECT model_id FROM prediction_active_models WHERE id = $1"


@dataclass(frozen=True)
class PredictionFilter(Filter):
    coin_id: str | None = condition("p.coin_id")
    model_id: int | None = condition("p.model_id")
    active_model_id: int | None = condition("p.active_model_id")
    prediction: int | None = condition("p.prediction")
    min_probability: float | None = condition("p.probability", ">=")
    is_alert: bool | None = condition("p.is_alert")
    since: datetime | None = condition("p.data_timestamp", ">=")
    until: datetime | None = condition("p.data_timestamp", "<=")


async def list_predictions(
    conn: Executor, flt: PredictionFilter, *, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    if flt.active_model_id is not None and flt.model_id is None:
        # An active model's rows all carry its model_id (INSERT_BATCH writes both from the
        # one registry row), so the filter adds it: the (model_id, data_timestamp) index then
        # serves this listing too, and predictions need no index of their own for it
        # (migration 0022). Without the registry row (a deleted model) the listing is empty:
        # its predictions keep the id, but nothing lists them by it (migration 0023).
        model_id = await conn.fetchval(MODEL_OF_ACTIVE, flt.active_model_id)
        if model_id is None:
            return [], 0
        flt = replace(flt, model_id=model_id)
    return await fetch_page(
        conn,
        flt,
        columns=PREDICTION_COLUMNS,
        source=_WITH_MODEL_NAME,
        count_source="predictions p",
        order_by="p.data_timestamp DESC, p.id DESC",
        limit=limit,
        offset=offset,
    )


async def get_prediction(conn: Executor, prediction_id: int) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        f"SELECT {PREDICTION_COLUMNS} FROM {_WITH_MODEL_NAME} WHERE p.id = $1",
        prediction_id,
    )
    return dict(row) if row is not None else None


async def latest_for_coin(conn: Executor, coin_id: str) -> list[dict[str, Any]]:
    """The newest prediction of each model for a coin (all at that coin's newest timestamp)."""
    rows = await conn.fetch(
        f"""
        SELECT DISTINCT ON (p.active_model_id) {PREDICTION_COLUMNS}
          FROM {_WITH_MODEL_NAME}
         WHERE p.coin_id = $1
         ORDER BY p.active_model_id, p.data_timestamp DESC, p.id DESC
        """,
        coin_id,
    )
    return sorted((dict(r) for r in rows), key=lambda r: r["data_timestamp"], reverse=True)


# Commit -> prediction: from the commit of the collector's row (the transaction that made it
# visible; a collector committing asynchronously makes it visible at its commit record) to the
# commit of its prediction, both from PostgreSQL's commit timestamps (needs
# track_commit_timestamp = on: system_repo.track_commit_timestamps). Used by the benchmark.
COMMIT_LATENCY_MS = """
SELECT percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY ms), count(*), max(ms)
  FROM (SELECT extract(epoch FROM pg_xact_commit_timestamp(p.xmin)
                                  - pg_xact_commit_timestamp(m.xmin)) * 1000 AS ms
          FROM predictions p
          JOIN coin_metrics m ON m.mint = p.coin_id AND m."timestamp" = p.data_timestamp
         WHERE p.event_received_at IS NOT NULL) l
"""


async def count(conn: asyncpg.Connection) -> int:
    """All rows of ``predictions``."""
    return int(await conn.fetchval("SELECT count(*) FROM predictions"))


async def alert_counts(conn: asyncpg.Connection) -> tuple[int, int]:
    """Alert rows of ``predictions``, and how many of them have reasons."""
    row = await conn.fetchrow(
        "SELECT count(*) FILTER (WHERE is_alert), count(*) FILTER (WHERE reasons IS NOT NULL)"
        " FROM predictions"
    )
    assert row is not None
    return int(row[0]), int(row[1])


async def commit_latency_ms(
    conn: asyncpg.Connection,
) -> tuple[float | None, float | None, float | None]:
    """p50, p95, p99 of commit-to-commit latency (ms) of the pipeline's predictions (those
    with an event); all None without any."""
    row = await conn.fetchrow(COMMIT_LATENCY_MS)
    percentiles = row[0] if row is not None else None
    if not percentiles:
        return None, None, None
    p50, p95, p99 = percentiles
    return p50, p95, p99
