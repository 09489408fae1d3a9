"""``prediction_model_daily_stats``: per-model daily counts that outlive raw rows.

A partition of ``predictions`` or ``prediction_evaluations`` adds its counts here in the
transaction that drops it (``db/partitions.finish_detached``): every raw row is counted
exactly once - here once its partition is gone, in the raw table before. :func:`daily_stats`
reads both, so its totals do not change when retention drops a partition.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from ml_prediction_service.db.pool import Executor

Kind = Literal["predictions", "evaluations"]

PREDICTION_COUNTS = ("predictions", "positives", "alerts", "sum_probability")
EVALUATION_COUNTS = (
    "evaluated",
    "not_applicable",
    "true_positives",
    "false_positives",
    "true_negatives",
    "false_negatives",
    "targets_hit",
    "alerts_evaluated",
    "alerts_true",
    "sum_realised_change_after_alert",
    "alerts_with_change",
)
COUNTS = PREDICTION_COUNTS + EVALUATION_COUNTS

_DAY = "(data_timestamp AT TIME ZONE 'UTC')::date"

# Each source's counts per (day, model), over ``{source}`` (a table) ``{where}``.
_AGGREGATES: dict[Kind, str] = {
    "predictions": f"""
SELECT {_DAY} AS day, model_id, active_model_id,
       count(*) AS predictions,
       count(*) FILTER (WHERE prediction = 1) AS positives,
       count(*) FILTER (WHERE is_alert) AS alerts,
       COALESCE(sum(probability), 0)::float8 AS sum_probability
  FROM {{source}}{{where}}
 GROUP BY 1, 2, 3
""",
    "evaluations": f"""
SELECT {_DAY} AS day, model_id, active_model_id,
       count(*) AS evaluated,
       count(*) FILTER (WHERE result = 'not_applicable') AS not_applicable,
       count(*) FILTER (WHERE prediction = 1 AND target_hit) AS true_positives,
       count(*) FILTER (WHERE prediction = 1 AND NOT target_hit) AS false_positives,
       count(*) FILTER (WHERE prediction = 0 AND NOT target_hit) AS true_negatives,
       count(*) FILTER (WHERE prediction = 0 AND target_hit) AS false_negatives,
       count(*) FILTER (WHERE target_hit) AS targets_hit,
       count(*) FILTER (WHERE is_alert AND target_hit IS NOT NULL) AS alerts_evaluated,
       count(*) FILTER (WHERE is_alert AND target_hit) AS alerts_true,
       COALESCE(sum(realised_change_pct) FILTER (WHERE is_alert), 0)::float8
           AS sum_realised_change_after_alert,
       count(realised_change_pct) FILTER (WHERE is_alert) AS alerts_with_change
  FROM {{source}}{{where}}
 GROUP BY 1, 2, 3
""",
}
_COLUMNS: dict[Kind, tuple[str, ...]] = {
    "predictions": PREDICTION_COUNTS,
    "evaluations": EVALUATION_COUNTS,
}
_COUNTED = {"predictions": "predictions", "evaluations": "evaluated"}
RAW_TABLES: dict[Kind, str] = {
    "predictions": "predictions",
    "evaluations": "prediction_evaluations",
}


def _add_sql(kind: Kind, source: str) -> str:
    cols = _COLUMNS[kind]
    listed = ", ".join(cols)
    added = ", ".join(f"{c} = s.{c} + EXCLUDED.{c}" for c in cols)
    return f"""
WITH a AS ({_AGGREGATES[kind].format(source=source, where="")}),
up AS (
    INSERT INTO prediction_model_daily_stats AS s (day, model_id, active_model_id, {listed})
    SELECT day, model_id, active_model_id, {listed} FROM a
    ON CONFLICT (day, model_id, active_model_id) DO UPDATE
       SET {added}, updated_at = now()
)
SELECT COALESCE(sum({_COUNTED[kind]}), 0)::bigint FROM a
"""


async def add_table(conn: Executor, kind: Kind, source: str) -> int:
    """Add the counts of ``source`` (a quoted table name: a detached partition) to the
    rollup; returns its rows. Only in the transaction that drops ``source``."""
    return int(await conn.fetchval(_add_sql(kind, source)))


@dataclass(frozen=True)
class DailyStatsFilter:
    since: date
    until: date  # inclusive
    active_model_id: int | None = None
    model_id: int | None = None


def _daily_sql(include_raw: bool, model_filter: str) -> str:
    zeros = {c: "0" for c in COUNTS}
    parts = [
        "SELECT day, model_id, active_model_id, "
        + ", ".join(COUNTS)
        + " FROM prediction_model_daily_stats WHERE day >= $1 AND day <= $2"
        + model_filter
    ]
    if include_raw:
        for kind, table in RAW_TABLES.items():
            where = " WHERE data_timestamp >= $3 AND data_timestamp < $4" + model_filter
            cols = ", ".join(c if c in _COLUMNS[kind] else f"{zeros[c]} AS {c}" for c in COUNTS)
            parts.append(
                f"SELECT day, model_id, active_model_id, {cols} "
                f"FROM ({_AGGREGATES[kind].format(source=table, where=where)}) r"
            )
    sums = ", ".join(f"sum({c})::float8 AS {c}" for c in COUNTS)
    return f"""
SELECT day, model_id, active_model_id, {sums}
  FROM ({" UNION ALL ".join(parts)}) u
 GROUP BY day, model_id, active_model_id
 ORDER BY day, model_id, active_model_id NULLS LAST
"""


async def daily_stats(
    conn: Executor, flt: DailyStatsFilter, *, include_raw: bool = True
) -> list[dict[str, Any]]:
    """Per (day, model_id, active_model_id) from ``since`` to ``until`` (UTC days): the
    rollup plus, with ``include_raw``, the raw rows still stored (their sum is the whole
    day whatever retention dropped; without it only what was dropped - cheap, no raw scan).
    Counts as int, sums as float."""
    args: list[Any] = [flt.since, flt.until]
    if include_raw:  # $3, $4: the same days as times, for the raw tables' partition key
        args += [
            datetime.combine(flt.since, time(), UTC),
            datetime.combine(flt.until + timedelta(days=1), time(), UTC),
        ]
    model_filter = ""
    for column, value in (("active_model_id", flt.active_model_id), ("model_id", flt.model_id)):
        if value is not None:
            args.append(value)
            model_filter += f" AND {column} = ${len(args)}"
    rows = await conn.fetch(_daily_sql(include_raw, model_filter), *args)
    out = []
    for r in rows:
        item: dict[str, Any] = {
            "day": r["day"],
            "model_id": r["model_id"],
            "active_model_id": r["active_model_id"],
        }
        for c in COUNTS:
            total = float(r[c] or 0.0)
            item[c] = total if c.startswith("sum_") else int(total)
        out.append(item)
    return out
