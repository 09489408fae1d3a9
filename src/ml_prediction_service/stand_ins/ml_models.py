"""Writes to ``ml_models`` as the training service does: TRAINING -> READY | FAILED.

The one writer of ``ml_models`` rows (``insert_row``), also for the tests' rows.

JSON goes in as text cast to ``jsonb`` and numbers as ``float8``, so these statements work on
plain asyncpg connections and on the service's pool (whose codecs decode NUMERIC/JSONB).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

_READY = """
UPDATE ml_models SET
    status = 'READY', updated_at = NOW(), model_file_path = $2,
    feature_importance = $3::text::jsonb, confusion_matrix = $4::text::jsonb,
    cv_scores = $5::text::jsonb,
    training_accuracy = $6::float8, training_f1 = $7::float8,
    training_precision = $8::float8, training_recall = $9::float8,
    roc_auc = $10::float8, mcc = $11::float8, fpr = $12::float8, fnr = $13::float8
WHERE id = $1
"""

_FAILED = """
UPDATE ml_models SET status = 'FAILED', updated_at = NOW(),
    description = COALESCE(description, '') || ' [failed: ' || $2 || ']'
WHERE id = $1
"""


_JSON_COLUMNS = frozenset(
    ("features", "phases", "params", "feature_importance", "confusion_matrix", "cv_scores")
)
_NUMBER_COLUMNS = frozenset(
    (
        "target_value",
        "price_change_percent",
        "training_accuracy",
        "training_f1",
        "training_precision",
        "training_recall",
        "roc_auc",
        "mcc",
        "fpr",
        "fnr",
        "simulated_profit_pct",
    )
)
COLUMNS = frozenset(
    (
        "name",
        "model_type",
        "status",
        "description",
        "is_deleted",
        "deleted_at",
        "target_variable",
        "target_operator",
        "train_start",
        "train_end",
        "future_minutes",
        "target_direction",
        "model_file_path",
        *_JSON_COLUMNS,
        *_NUMBER_COLUMNS,
    )
)
"""The ``ml_models`` columns ``insert_row`` writes (all but id, created_at, updated_at)."""


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def _cast(column: str) -> str:
    if column in _JSON_COLUMNS:
        return "::text::jsonb"
    return "::float8" if column in _NUMBER_COLUMNS else ""


async def insert_row(conn: asyncpg.Connection | asyncpg.Pool, **values: Any) -> int:
    """Insert one ``ml_models`` row with exactly these columns; return its id.

    Every other column keeps its default (``status`` TRAINING, ``is_deleted`` false,
    ``created_at``/``updated_at`` NOW(), the rest NULL). JSON columns take Python values
    (a ``str`` is stored as a JSON string, as some training-service rows really are); numbers
    go in as ``float8``. Only names in ``COLUMNS`` reach the SQL.
    """
    unknown = sorted(set(values) - COLUMNS)
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


@dataclass(frozen=True)
class ModelRecord:
    """The metadata the training service stores before it trains."""

    name: str
    model_type: str
    description: str
    target_variable: str
    target_operator: str | None
    target_value: float | None
    train_start: datetime | None
    train_end: datetime | None
    future_minutes: int | None
    price_change_percent: float | None
    target_direction: str | None
    features: list[str]
    phases: list[int] | None
    params: dict[str, Any]


async def insert_training(conn: asyncpg.Connection, record: ModelRecord) -> int:
    """Insert the row in status TRAINING; return its id."""
    return await insert_row(
        conn,
        name=record.name,
        model_type=record.model_type,
        status="TRAINING",
        description=record.description,
        target_variable=record.target_variable,
        target_operator=record.target_operator,
        target_value=record.target_value,
        train_start=record.train_start,
        train_end=record.train_end,
        future_minutes=record.future_minutes,
        price_change_percent=record.price_change_percent,
        target_direction=record.target_direction,
        features=record.features,
        phases=record.phases,
        params=record.params,
    )


async def mark_ready(
    conn: asyncpg.Connection,
    model_id: int,
    *,
    model_file_path: str,
    metrics: dict[str, float | None],
    confusion: dict[str, int],
    feature_importance: dict[str, float],
    cv_scores: list[float] | None = None,
) -> None:
    """Store the metrics and the file path, and make the model available (READY)."""
    await conn.execute(
        _READY,
        model_id,
        model_file_path,
        _json(feature_importance),
        _json(confusion),
        _json(cv_scores),
        metrics.get("accuracy"),
        metrics.get("f1"),
        metrics.get("precision"),
        metrics.get("recall"),
        metrics.get("roc_auc"),
        metrics.get("mcc"),
        metrics.get("fpr"),
        metrics.get("fnr"),
    )


async def mark_failed(conn: asyncpg.Connection, model_id: int, reason: str) -> None:
    """Record a failed training run."""
    await conn.execute(_FAILED, model_id, reason[:500])
