"""Writes to ``ml_models`` as the training service does: TRAINING -> READY | FAILED.

JSON goes in as text cast to ``jsonb`` and numbers as ``float8``, so these statements work on
plain asyncpg connections and on the service's pool (whose codecs decode NUMERIC/JSONB).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

_INSERT = """
INSERT INTO ml_models (
    name, model_type, status, description, target_variable, target_operator, target_value,
    train_start, train_end, future_minutes, price_change_percent, target_direction,
    features, phases, params
) VALUES (
    $1, $2, 'TRAINING', $3, $4, $5, $6::float8, $7, $8, $9, $10::float8, $11,
    $12::text::jsonb, $13::text::jsonb, $14::text::jsonb
)
RETURNING id
"""

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


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


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
    value = await conn.fetchval(
        _INSERT,
        record.name,
        record.model_type,
        record.description,
        record.target_variable,
        record.target_operator,
        record.target_value,
        record.train_start,
        record.train_end,
        record.future_minutes,
        record.price_change_percent,
        record.target_direction,
        _json(record.features),
        _json(record.phases),
        _json(record.params),
    )
    return int(value)


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
