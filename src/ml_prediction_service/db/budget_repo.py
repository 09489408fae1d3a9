"""Queries of the disk budget (``bench/disk_budget.py``): bytes and rows per table, summed
over its partitions, and scratch copies for tables that hold no rows where they are measured.

Table names come from the fixed list of the budget, never from a request; they are still
passed as ``regclass`` parameters where PostgreSQL takes them as values.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

# Per leaf partition (or the table itself when it is not partitioned): its heap (main fork
# plus free-space and visibility maps), its TOAST table with the TOAST index, and its indexes.
LEAF_SIZES = """
SELECT t.relid::regclass::text AS leaf,
       pg_table_size(t.relid) - COALESCE(pg_total_relation_size(NULLIF(c.reltoastrelid, 0)), 0)
           AS heap_bytes,
       COALESCE(pg_total_relation_size(NULLIF(c.reltoastrelid, 0)), 0) AS toast_bytes,
       pg_indexes_size(t.relid) AS index_bytes
  FROM (SELECT relid FROM pg_partition_tree($1::regclass) WHERE isleaf
        UNION  -- a table that is not partitioned is its own leaf
        SELECT $1::regclass) t
  JOIN pg_class c ON c.oid = t.relid
 WHERE c.relkind = 'r'
"""

# The indexes of a table (on its parent for a partitioned one), by name.
INDEX_NAMES = """
SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
 WHERE i.indrelid = $1::regclass ORDER BY 1
"""


@dataclass(frozen=True, slots=True)
class TableSize:
    """Bytes of the leaves that hold rows, and those rows (exact counts)."""

    table: str
    rows: int
    heap_bytes: int
    toast_bytes: int
    index_bytes: int
    empty_leaves_bytes: int  # partitions without a row yet (ahead, DEFAULT): a fixed cost
    indexes: tuple[str, ...]

    @property
    def total_bytes(self) -> int:
        return self.heap_bytes + self.toast_bytes + self.index_bytes


async def exists(conn: asyncpg.Connection, table: str) -> bool:
    return await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", table) is True


async def vacuum_analyze(conn: asyncpg.Connection, table: str) -> None:
    """``VACUUM (ANALYZE)`` one of the budget's tables (a fixed name: see the module doc)."""
    await conn.execute(f'VACUUM (ANALYZE) "{table}"')


async def table_size(conn: asyncpg.Connection, table: str) -> TableSize:
    """Exact rows per leaf (``tableoid``), and the bytes of the leaves that hold them."""
    counts = {
        r["leaf"]: int(r["n"])
        for r in await conn.fetch(
            f'SELECT tableoid::regclass::text AS leaf, count(*) AS n FROM "{table}" GROUP BY 1'
        )
    }
    heap = toast = index = empty = 0
    for r in await conn.fetch(LEAF_SIZES, table):
        if counts.get(r["leaf"]):
            heap += int(r["heap_bytes"])
            toast += int(r["toast_bytes"])
            index += int(r["index_bytes"])
        else:
            empty += int(r["heap_bytes"]) + int(r["toast_bytes"]) + int(r["index_bytes"])
    names = tuple(r["relname"] for r in await conn.fetch(INDEX_NAMES, table))
    return TableSize(table, sum(counts.values()), heap, toast, index, empty, names)


# Scratch copies (same columns, defaults, constraints and indexes: LIKE … INCLUDING ALL)
# filled from what the pipeline wrote, for tables that are empty where the budget is
# measured: the event queue (its rows are deleted when claimed) and the evaluations (the
# evaluator writes them after a model's horizon, minutes after the run).
SCRATCH_PREFIX = "budget_scratch_"

FILL_EVENTS = """
INSERT INTO {scratch} (mint, data_timestamp, phase_id, created_at)
SELECT mint, "timestamp", phase_id_at_time, clock_timestamp() FROM coin_metrics
"""

# One evaluation per prediction of a model with a horizon, every column filled the way the
# evaluator fills it (values of the prediction's own coin_metrics row; the outcome columns
# as doubles and timestamps; no note).
FILL_EVALUATIONS = """
INSERT INTO {scratch} (
    prediction_id, data_timestamp, coin_id, model_id, active_model_id, probability,
    prediction, is_alert, tag, target_variable, future_minutes, price_change_percent,
    target_direction, horizon_at, start_value, end_value, end_timestamp, realised_change_pct,
    max_change_pct, max_at, min_change_pct, min_at, target_hit, result, note, evaluated_at)
SELECT p.id, p.data_timestamp, p.coin_id, p.model_id, p.active_model_id, p.probability,
       p.prediction, p.is_alert, p.tag, a.target_variable, a.future_minutes,
       a.price_change_percent, a.target_direction,
       p.data_timestamp + make_interval(mins => a.future_minutes),
       m.price_close::float8, m.price_close::float8 * (0.8 + random() * 0.4),
       p.data_timestamp + make_interval(mins => a.future_minutes),
       random() * 40 - 20, random() * 30, p.data_timestamp + make_interval(secs => 30),
       -random() * 30, p.data_timestamp + make_interval(secs => 60),
       random() < 0.3, CASE WHEN random() < 0.5 THEN 'success' ELSE 'failed' END, NULL,
       clock_timestamp()
  FROM predictions p
  JOIN prediction_active_models a ON a.id = p.active_model_id
  JOIN coin_metrics m ON m.mint = p.coin_id AND m."timestamp" = p.data_timestamp
 WHERE a.future_minutes IS NOT NULL
"""

# One due row per (coin, data timestamp, horizon) of those predictions.
FILL_EVALUATION_DUE = """
INSERT INTO {scratch} (coin_id, data_timestamp, future_minutes, horizon_at, check_at)
SELECT DISTINCT p.coin_id, p.data_timestamp, a.future_minutes,
       p.data_timestamp + make_interval(mins => a.future_minutes),
       p.data_timestamp + make_interval(mins => a.future_minutes, secs => 30)
  FROM predictions p
  JOIN prediction_active_models a ON a.id = p.active_model_id
 WHERE a.future_minutes IS NOT NULL
"""

SCRATCH_FILLS = {
    "prediction_events": FILL_EVENTS,
    "prediction_evaluations": FILL_EVALUATIONS,
    "prediction_evaluation_due": FILL_EVALUATION_DUE,
}


async def scratch_size(conn: asyncpg.Connection, table: str) -> TableSize:
    """Measure ``table``'s rows as a filled scratch copy (dropped again afterwards)."""
    scratch = SCRATCH_PREFIX + table
    await conn.execute(f'DROP TABLE IF EXISTS "{scratch}"')
    await conn.execute(f'CREATE TABLE "{scratch}" (LIKE "{table}" INCLUDING ALL)')
    try:
        await conn.execute(SCRATCH_FILLS[table].format(scratch=f'"{scratch}"'))
        await vacuum_analyze(conn, scratch)
        size = await table_size(conn, scratch)
    finally:
        await conn.execute(f'DROP TABLE IF EXISTS "{scratch}"')
    return TableSize(
        table,
        size.rows,
        size.heap_bytes,
        size.toast_bytes,
        size.index_bytes,
        size.empty_leaves_bytes,
        size.indexes,
    )


# Every table and index of the schema by name, with the table or index it belongs to at the
# top of its partition tree (itself when it is not a partition): plans name partitions.
ROOT_NAMES = """
SELECT c.relname AS name, COALESCE(r.relname, c.relname) AS root,
       c.relkind = 'r' AND c.relpages = 0 AS empty
  FROM pg_class c
  LEFT JOIN pg_class r ON r.oid = pg_partition_root(c.oid)
 WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p', 'i', 'I')
"""


async def root_names(conn: asyncpg.Connection) -> tuple[dict[str, str], frozenset[str]]:
    """Partition or partition index name → the parent table's or parent index's name; and
    the tables without a page (as of their last VACUUM or ANALYZE)."""
    rows = await conn.fetch(ROOT_NAMES)
    return {r["name"]: r["root"] for r in rows}, frozenset(r["name"] for r in rows if r["empty"])


# -- the measurement tools' own statements (bench/list_plans.py, bench/insert_cost.py) ----

PLAN_VALUES = """
SELECT (SELECT coin_id FROM predictions ORDER BY data_timestamp DESC LIMIT 1) AS coin,
       (SELECT max(data_timestamp) FROM predictions) AS newest,
       (SELECT max(id) FROM prediction_webhook_outbox WHERE status = 'failed') AS outbox_id,
       (SELECT min(id) FROM predictions) AS prediction_id,
       (SELECT min(id) FROM prediction_active_models
         WHERE future_minutes IS NOT NULL) AS horizon_model,
       (SELECT min(id) FROM prediction_active_models) AS active_model_id,
       (SELECT min(model_id) FROM prediction_active_models) AS model_id
"""

COST_MODEL = """
INSERT INTO prediction_active_models (model_id, model_name, model_type, target_variable,
                                      features, local_model_path)
VALUES ($1, $2, 'xgboost', 'price_close', '[]', '/none') RETURNING id
"""


async def plan_values(conn: asyncpg.Connection) -> asyncpg.Record:
    """Values the list plans filter by: the newest coin, a failed delivery, a model, …"""
    row = await conn.fetchrow(PLAN_VALUES)
    assert row is not None
    return row


async def count_rows(conn: asyncpg.Connection, table: str) -> int:
    """All rows of one of the measured tables (a fixed name: see the module doc)."""
    return int(await conn.fetchval(f'SELECT count(*) FROM "{table}"'))


async def add_cost_model(conn: asyncpg.Connection, model_id: int, name: str) -> int:
    """A registry row for the insert-cost measurement; its active model id."""
    return int(await conn.fetchval(COST_MODEL, model_id, name))


async def drop_index(conn: asyncpg.Connection, name: str) -> None:
    """Drop one of migration 0022's indexes by its name (a fixed name of the migration)."""
    await conn.execute(f'DROP INDEX IF EXISTS "{name}"')
