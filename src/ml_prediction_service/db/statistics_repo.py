"""Statistics SQL of live model quality (``evaluation/statistics.py``, docs/evaluation.md).

One row source for both kinds of evaluation rows: ``prediction_evaluations`` of an active
model (in a window on ``data_timestamp``, relative to ``now()``) or
``prediction_replay_evaluations`` of a replay (no window). Every figure is computed from the
same columns (probability, prediction, is_alert, target_hit, result, realised_change_pct,
data_timestamp); rows whose result is ``not_applicable`` are counted apart (``ok`` false) and
left out of every other figure. The figures come from one statement, so they share one
snapshot and one ``now()`` (calibration bins add up to ``evaluated``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from ml_prediction_service.db.models_repo import ACTIVE_COLUMNS
from ml_prediction_service.db.pool import Executor
from ml_prediction_service.models.metadata import ActiveModelRecord

# data_timestamp inside the window: the interval parameter, NULL for all time
_IN_WINDOW = "data_timestamp >= COALESCE(now() - {interval}::interval, '-infinity'::timestamptz)"

# The statistics' columns of one evaluation row; ``ok``: not ``not_applicable``.
_COLUMNS = """probability, prediction, is_alert, target_hit, result,
           result <> 'not_applicable' AS ok, realised_change_pct, data_timestamp"""

# The headline figures over such rows (also per model, side by side).
_TOTALS = """
    count(*) FILTER (WHERE ok) AS evaluated,
    count(*) FILTER (WHERE NOT ok) AS not_applicable,
    count(*) FILTER (WHERE ok AND is_alert) AS alerts,
    count(*) FILTER (WHERE ok AND is_alert AND target_hit) AS alerts_true,
    count(*) FILTER (WHERE ok AND prediction = 1) AS positives,
    count(*) FILTER (WHERE ok AND prediction = 1 AND target_hit) AS positives_hit,
    count(*) FILTER (WHERE ok AND target_hit) AS targets_hit,
    count(*) FILTER (WHERE ok AND result = 'success') AS successes,
    avg(realised_change_pct) FILTER (WHERE ok AND is_alert) AS mean_move_after_alert
"""

# $1 active model id (live rows) or NULL, $2 replay id or NULL, $3 window interval or NULL
# (all time; replays have none), $4 the precision-over-time bucket ('hour' / 'day').
# Calibration bins on the stored NUMERIC probability (exact): [k/10, (k+1)/10), the last
# one closed (1.0 falls in bin 9).
MODEL_STATISTICS = f"""
WITH src AS (
    SELECT {_COLUMNS}
      FROM prediction_evaluations
     WHERE active_model_id = $1 AND {_IN_WINDOW.format(interval="$3")}
    UNION ALL
    SELECT {_COLUMNS}
      FROM prediction_replay_evaluations
     WHERE replay_id = $2
),
ev AS (SELECT * FROM src WHERE ok),
bins AS (
    SELECT greatest(least(floor(probability * 10), 9), 0)::int AS bin,
           count(*) AS n,
           avg(probability)::float8 AS mean_probability,
           avg(CASE WHEN target_hit THEN 1.0 ELSE 0.0 END)::float8 AS observed
      FROM ev GROUP BY 1
),
buckets AS (
    SELECT date_trunc($4::text, data_timestamp, 'UTC') AS bucket,
           count(*) AS evaluated,
           count(*) FILTER (WHERE is_alert) AS alerts,
           count(*) FILTER (WHERE is_alert AND target_hit) AS alerts_true
      FROM ev GROUP BY 1
)
SELECT {_TOTALS},
       (SELECT coalesce(json_agg(json_build_object(
                   'bin', bin, 'count', n, 'mean_probability', mean_probability,
                   'observed_frequency', observed) ORDER BY bin), '[]'::json)
          FROM bins) AS calibration,
       (SELECT coalesce(json_agg(json_build_object(
                   'start', extract(epoch FROM bucket)::float8, 'evaluated', evaluated,
                   'alerts', alerts, 'alerts_true', alerts_true) ORDER BY bucket), '[]'::json)
          FROM buckets) AS over_time
  FROM src
"""

# Every imported model with its headline figures in the window ($1 interval or NULL).
MODEL_SUMMARIES = f"""
SELECT {ACTIVE_COLUMNS}, t.*
  FROM prediction_active_models m
 CROSS JOIN LATERAL (
       SELECT {_TOTALS}
         FROM (SELECT {_COLUMNS}
                 FROM prediction_evaluations
                WHERE active_model_id = m.id AND {_IN_WINDOW.format(interval="$1")}) s
       ) t
 ORDER BY m.id
"""

# Per active model: its last $1 evaluated alerts (newest data timestamps first; the partial
# index idx_evaluations_model_alerts), and how many of them came true.
RECENT_ALERT_PRECISION = """
SELECT m.id, m.model_id, coalesce(m.custom_name, m.model_name) AS name,
       l.alerts, l.alerts_true
  FROM prediction_active_models m
 CROSS JOIN LATERAL (
       SELECT count(*) AS alerts, count(*) FILTER (WHERE target_hit) AS alerts_true
         FROM (SELECT target_hit
                 FROM prediction_evaluations e
                WHERE e.active_model_id = m.id AND e.is_alert
                  AND e.result <> 'not_applicable'
                ORDER BY e.data_timestamp DESC, e.prediction_id DESC
                LIMIT $1) last_alerts
       ) l
 WHERE m.is_active
 ORDER BY m.id
"""

REPLAY_MODEL = f"""
SELECT {ACTIVE_COLUMNS}
  FROM prediction_active_models
 WHERE id = (SELECT active_model_id FROM prediction_replays WHERE id = $1)
"""


async def model_for_replay(conn: Executor, replay_id: int) -> ActiveModelRecord | None:
    """The model a replay ran (None: no such replay)."""
    row = await conn.fetchrow(REPLAY_MODEL, replay_id)
    return ActiveModelRecord.from_row(row) if row is not None else None


async def model_statistics(
    conn: Executor,
    *,
    active_model_id: int | None,
    replay_id: int | None,
    window: timedelta | None,
    bucket: str,
) -> dict[str, Any]:
    """The figures of one model's live rows (``active_model_id``, in ``window``) or of one
    replay's rows (``replay_id``): the totals, ``calibration`` (non-empty bins) and
    ``over_time`` (buckets with evaluated rows; ``start`` in epoch seconds)."""
    row = await conn.fetchrow(MODEL_STATISTICS, active_model_id, replay_id, window, bucket)
    assert row is not None  # an aggregate without GROUP BY: always one row
    return dict(row)


async def model_summaries(
    conn: Executor, *, window: timedelta | None
) -> list[tuple[ActiveModelRecord, dict[str, Any]]]:
    """Every imported model (active or not) with its headline figures in ``window``."""
    rows = await conn.fetch(MODEL_SUMMARIES, window)
    return [(ActiveModelRecord.from_row(r), dict(r)) for r in rows]


async def recent_alert_precision(conn: Executor, last_alerts: int) -> list[dict[str, Any]]:
    """Per active model: ``alerts`` (at most ``last_alerts``) and ``alerts_true`` among its
    most recent evaluated alerts."""
    return [dict(r) for r in await conn.fetch(RECENT_ALERT_PRECISION, last_alerts)]
