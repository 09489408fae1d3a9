"""Queries for ``ml_models`` (the training service's table) as its stand-ins use it: the
rows the demo trainer writes (TRAINING -> READY | FAILED, via ``stand_ins/ml_models.py``),
the reads of the training-service API stand-in, and the demo's look-ups by name.

The service itself only reads ``ml_models`` (``db/models_repo.py``).

JSON goes in as text cast to ``jsonb`` and numbers as ``float8``, so these statements work on
plain asyncpg connections and on the service's pool (whose codecs decode NUMERIC/JSONB).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg

from ml_prediction_service.db.pool import Executor
from ml_prediction_service.models.metadata import JSON_FIELDS, SCORE_FIELDS

ML_MODELS_COLUMNS: tuple[str, ...] = (
    "id",
    "name",
    "model_type",
    "status",
    "description",
    "created_at",
    "updated_at",
    "is_deleted",
    "deleted_at",
    "target_variable",
    "target_operator",
    "target_value",
    "train_start",
    "train_end",
    "future_minutes",
    "price_change_percent",
    "target_direction",
    "features",
    "phases",
    "params",
    "feature_importance",
    *SCORE_FIELDS,
    "confusion_matrix",
    "cv_scores",
    "simulated_profit_pct",
    "model_file_path",
)
"""Every column of ``ml_models`` (contract §3), in table order."""

_JSON_COLUMNS = frozenset(JSON_FIELDS)
_NUMBER_COLUMNS = frozenset(
    ("target_value", "price_change_percent", *SCORE_FIELDS, "simulated_profit_pct")
)
WRITABLE_COLUMNS = frozenset(ML_MODELS_COLUMNS) - {"id", "created_at", "updated_at"}
"""The columns ``insert_row`` writes (all but id, created_at, updated_at)."""


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def _cast(column: str) -> str:
    if column in _JSON_COLUMNS:
        return "::text::jsonb"
    return "::float8" if column in _NUMBER_COLUMNS else ""


async def insert_row(conn: Executor, **values: Any) -> int:
    """Insert one ``ml_models`` row with exactly these columns; return its id.

    Every other column keeps its default (``status`` TRAINING, ``is_deleted`` false,
    ``created_at``/``updated_at`` NOW(), the rest NULL). JSON columns take Python values
    (a ``str`` is stored as a JSON string, as some training-service rows really are); numbers
    go in as ``float8``. Only names in ``WRITABLE_COLUMNS`` reach the SQL.
    """
    unknown = sorted(set(values) - WRITABLE_COLUMNS)
    if unknown:
        raise ValueError(f"not writable ml_models columns: {unknown}")
    names = list(values)
    placeholders = [f"${i}{_cast(name)}" for i, name in enumerate(names, 1)]
    args = [_json(values[n]) if n in _JSON_COLUMNS else values[n] for n in names]
    sql = (
        f"INSERT INTO ml_models ({', '.join(names)}) VALUES ({', '.join(placeholders)}) "
        "RETURNING id"
    )
    return int(await conn.fetchval(sql, *args))


_SET_SCORES = ", ".join(f"{c} = ${i}::float8" for i, c in enumerate(SCORE_FIELDS, start=6))
_READY = f"""
UPDATE ml_models SET
    status = 'READY', updated_at = NOW(), model_file_path = $2,
    feature_importance = $3::text::jsonb, confusion_matrix = $4::text::jsonb,
    cv_scores = $5::text::jsonb, {_SET_SCORES}
WHERE id = $1
"""

_FAILED = """
UPDATE ml_models SET status = 'FAILED', updated_at = NOW(),
    description = COALESCE(description, '') || ' [failed: ' || $2 || ']'
WHERE id = $1
"""


async def mark_ready(
    conn: Executor,
    model_id: int,
    *,
    model_file_path: str,
    feature_importance: Mapping[str, float],
    confusion_matrix: Mapping[str, int],
    cv_scores: Sequence[float] | None,
    scores: Mapping[str, float | None],
) -> None:
    """Status READY with the file path, JSON results and ``scores`` (by ``SCORE_FIELDS``
    column name; a missing one is NULL)."""
    await conn.execute(
        _READY,
        model_id,
        model_file_path,
        _json(feature_importance),
        _json(confusion_matrix),
        _json(cv_scores),
        *(scores.get(c) for c in SCORE_FIELDS),
    )


async def mark_failed(conn: Executor, model_id: int, reason: str) -> None:
    """Status FAILED, the reason appended to the description."""
    await conn.execute(_FAILED, model_id, reason)


async def name_taken(conn: Executor, name: str) -> bool:
    """Whether some ``ml_models`` row (in any status, deleted or not) has this name."""
    return bool(await conn.fetchval("SELECT 1 FROM ml_models WHERE name = $1", name))


async def ready_ids(conn: Executor, names: Sequence[str]) -> dict[str, int]:
    """name → id of the READY, not deleted models among ``names``."""
    rows = await conn.fetch(
        "SELECT name, id FROM ml_models "
        "WHERE name = ANY($1::text[]) AND status = 'READY' AND NOT is_deleted",
        list(names),
    )
    return {str(r["name"]): int(r["id"]) for r in rows}


def _column_list(columns: Sequence[str]) -> str:
    unknown = sorted(set(columns) - set(ML_MODELS_COLUMNS))
    if unknown:  # defence in depth: callers pass fixed tuples
        raise ValueError(f"not ml_models columns: {unknown}")
    return ", ".join(columns)


async def list_rows(
    conn: Executor,
    columns: Sequence[str],
    *,
    status: str | None = None,
    is_deleted: bool | None = None,
) -> list[dict[str, Any]]:
    """``columns`` of every row, by id; ``status`` / ``is_deleted`` filter when not None
    (a NULL ``is_deleted`` counts as false)."""
    rows = await conn.fetch(
        f"SELECT {_column_list(columns)} FROM ml_models "
        "WHERE ($1::text IS NULL OR status = $1) "
        "AND ($2::boolean IS NULL OR COALESCE(is_deleted, FALSE) = $2) ORDER BY id",
        status,
        is_deleted,
    )
    return [dict(r) for r in rows]


async def get_row(conn: Executor, model_id: int) -> dict[str, Any] | None:
    """Every column of one model that is not deleted (None: missing or deleted)."""
    row: asyncpg.Record | None = await conn.fetchrow(
        f"SELECT {_column_list(ML_MODELS_COLUMNS)} FROM ml_models "
        "WHERE id = $1 AND COALESCE(is_deleted, FALSE) = FALSE",
        model_id,
    )
    return dict(row) if row is not None else None
