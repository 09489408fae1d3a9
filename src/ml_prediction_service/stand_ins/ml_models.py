"""Writes to ``ml_models`` as the training service does: TRAINING -> READY | FAILED.

The one writer of ``ml_models`` rows is ``insert_row`` (``db/ml_models_repo.py``, re-exported
here), also for the tests' rows; the statements are all in that module.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from ml_prediction_service.db import ml_models_repo
from ml_prediction_service.db.ml_models_repo import WRITABLE_COLUMNS as COLUMNS
from ml_prediction_service.db.ml_models_repo import insert_row
from ml_prediction_service.models.metadata import SCORE_FIELDS

__all__ = [
    "COLUMNS",
    "ModelRecord",
    "insert_row",
    "insert_training",
    "mark_failed",
    "mark_ready",
]


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
    """Store the metrics and the file path, and make the model available (READY).

    ``metrics`` are named like the score columns without ``training_`` (``accuracy``,
    ``f1``, ``precision``, ``recall``, ``roc_auc``, ``mcc``, ``fpr``, ``fnr``)."""
    await ml_models_repo.mark_ready(
        conn,
        model_id,
        model_file_path=model_file_path,
        feature_importance=feature_importance,
        confusion_matrix=confusion,
        cv_scores=cv_scores,
        scores={c: metrics.get(c.removeprefix("training_")) for c in SCORE_FIELDS},
    )


async def mark_failed(conn: asyncpg.Connection, model_id: int, reason: str) -> None:
    """Record a failed training run."""
    await ml_models_repo.mark_failed(conn, model_id, reason[:500])
