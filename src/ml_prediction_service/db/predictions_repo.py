"""Queries for ``predictions``: one-round-trip idempotent writes, and reads for the API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from ml_prediction_service.db.filters import where_clause

INSERT_PREDICTIONS = """
INSERT INTO predictions (coin_id, data_timestamp, model_id, active_model_id, prediction,
                         probability, phase_id_at_time, prediction_duration_ms, is_stale,
                         is_alert, alert_threshold, event_received_at, features, created_at)
SELECT c, t, m, a, p, round(pr::numeric, 4), ph, d, s, al, th, r, f, clock_timestamp()
  FROM unnest($1::text[], $2::timestamptz[], $3::bigint[], $4::bigint[], $5::int[],
              $6::float8[], $7::int[], $8::int[], $9::bool[], $10::bool[], $11::float8[],
              $12::timestamptz[], $13::jsonb[])
       AS u(c, t, m, a, p, pr, ph, d, s, al, th, r, f)
ON CONFLICT (active_model_id, coin_id, data_timestamp) DO NOTHING
"""

RETURN_ROWS = "RETURNING coin_id, data_timestamp, active_model_id"

# Without webhooks only the per-model counts of new rows are needed: ~10 rows come back
# instead of one per prediction.
COUNT_NEW = """
WITH ins AS ({insert} RETURNING active_model_id)
SELECT active_model_id, count(*) AS n FROM ins GROUP BY active_model_id
"""

# Two statements on purpose: the first takes the row locks in id order (an UPDATE ... FROM
# locks in whatever order its plan visits rows), so concurrent batches never deadlock.
# NO KEY UPDATE, like the UPDATE itself: it does not conflict with the KEY SHARE locks that
# the predictions' foreign key takes on these rows in other transactions.
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


@dataclass(frozen=True, slots=True)
class NewPrediction:
    coin_id: str
    data_timestamp: datetime
    model_id: int
    active_model_id: int
    prediction: int
    probability: float
    phase_id: int | None
    duration_ms: int
    is_stale: bool
    is_alert: bool
    alert_threshold: float
    event_received_at: datetime | None
    features: dict[str, float] | None = None


def _arrays(rows: list[NewPrediction]) -> list[list[Any]]:
    return [
        [r.coin_id for r in rows],
        [r.data_timestamp for r in rows],
        [r.model_id for r in rows],
        [r.active_model_id for r in rows],
        [r.prediction for r in rows],
        [r.probability for r in rows],
        [r.phase_id for r in rows],
        [r.duration_ms for r in rows],
        [r.is_stale for r in rows],
        [r.is_alert for r in rows],
        [r.alert_threshold for r in rows],
        [r.event_received_at for r in rows],
        [r.features for r in rows],
    ]


async def insert_predictions(
    conn: asyncpg.Connection, rows: list[NewPrediction]
) -> list[asyncpg.Record]:
    """Insert all rows in one statement; returns the rows actually inserted (not duplicates)
    as (coin_id, data_timestamp, active_model_id)."""
    if not rows:
        return []
    inserted: list[asyncpg.Record] = await conn.fetch(
        INSERT_PREDICTIONS + RETURN_ROWS, *_arrays(rows)
    )
    return inserted


async def insert_predictions_counted(
    conn: asyncpg.Connection, rows: list[NewPrediction]
) -> dict[int, int]:
    """Insert all rows in one statement; returns new rows per active model id."""
    if not rows:
        return {}
    records = await conn.fetch(COUNT_NEW.format(insert=INSERT_PREDICTIONS), *_arrays(rows))
    return {int(r["active_model_id"]): int(r["n"]) for r in records}


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
    p.is_stale, p.is_alert, p.alert_threshold, p.event_received_at,
    COALESCE(a.custom_name, a.model_name) AS model_name
"""


@dataclass(frozen=True)
class PredictionFilter:
    coin_id: str | None = None
    model_id: int | None = None
    active_model_id: int | None = None
    prediction: int | None = None
    min_probability: float | None = None
    is_alert: bool | None = None
    since: datetime | None = None
    until: datetime | None = None

    def where(self) -> tuple[str, list[Any]]:
        return where_clause(
            (
                ("p.coin_id", "=", self.coin_id),
                ("p.model_id", "=", self.model_id),
                ("p.active_model_id", "=", self.active_model_id),
                ("p.prediction", "=", self.prediction),
                ("p.probability", ">=", self.min_probability),
                ("p.is_alert", "=", self.is_alert),
                ("p.data_timestamp", ">=", self.since),
                ("p.data_timestamp", "<=", self.until),
            )
        )


async def list_predictions(
    conn: asyncpg.Connection, flt: PredictionFilter, *, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    where, args = flt.where()
    total = await conn.fetchval(f"SELECT count(*) FROM predictions p{where}", *args)
    rows = await conn.fetch(
        f"""
        SELECT {PREDICTION_COLUMNS}
          FROM predictions p LEFT JOIN prediction_active_models a ON a.id = p.active_model_id
        {where}
         ORDER BY p.data_timestamp DESC, p.id DESC
         LIMIT ${len(args) + 1} OFFSET ${len(args) + 2}
        """,
        *args,
        limit,
        offset,
    )
    return [dict(r) for r in rows], int(total)


async def get_prediction(conn: asyncpg.Connection, prediction_id: int) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        f"SELECT {PREDICTION_COLUMNS} FROM predictions p "
        "LEFT JOIN prediction_active_models a ON a.id = p.active_model_id WHERE p.id = $1",
        prediction_id,
    )
    return dict(row) if row is not None else None


async def latest_for_coin(conn: asyncpg.Connection, coin_id: str) -> list[dict[str, Any]]:
    """The newest prediction of each model for a coin (all at that coin's newest timestamp)."""
    rows = await conn.fetch(
        f"""
        SELECT DISTINCT ON (p.active_model_id) {PREDICTION_COLUMNS}
          FROM predictions p LEFT JOIN prediction_active_models a ON a.id = p.active_model_id
         WHERE p.coin_id = $1
         ORDER BY p.active_model_id, p.data_timestamp DESC, p.id DESC
        """,
        coin_id,
    )
    return sorted((dict(r) for r in rows), key=lambda r: r["data_timestamp"], reverse=True)
