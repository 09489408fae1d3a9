"""Request/response models of replays (``POST /api/models/{id}/replay``,
``GET /api/replays/{id}``, ``GET /api/models/{id}/replays``; docs/evaluation.md "Replay")."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from ml_prediction_service.api.params import BigInt, Timestamp
from ml_prediction_service.api.statistics_schemas import ModelStatisticsRead


class ReplayCreate(BaseModel):
    start: Timestamp = Field(
        description="First coin_metrics time replayed (ISO 8601; no offset: UTC)"
    )
    end: Timestamp = Field(description="Last coin_metrics time replayed (inclusive; after start)")
    max_rows: BigInt | None = Field(
        default=None,
        ge=1,
        description="Refuse (422) a range with more coin_metrics rows than this; at most and "
        "by default REPLAY_MAX_ROWS",
    )


class ReplayProgressRead(BaseModel):
    coins_done: int
    coins_total: int | None
    rows_done: int = Field(description="Rows of the range replayed (predicted or skipped)")
    rows_total: int | None
    fraction: float | None = Field(description="rows_done / rows_total (null: not known yet)")


class ReplayPredictionsRead(BaseModel):
    total: int = Field(description="Replayed predictions (one per row the model predicted)")
    alerts: int
    positives: int = Field(description="Predictions with prediction = 1")


_BUILT = ("statistics", "predictions", "progress")  # made by ReplayRead.from_row


class ReplayRead(BaseModel):
    id: int
    active_model_id: int
    status: Literal["pending", "running", "done", "failed", "cancelled"]
    range_start: datetime
    range_end: datetime
    max_rows: int
    max_seconds: int = Field(description="REPLAY_MAX_SECONDS when it started")
    progress: ReplayProgressRead
    predictions: ReplayPredictionsRead | None = Field(
        default=None, description="Counts so far (GET /api/replays/{id} only)"
    )
    error: str | None = Field(description="Why it failed or was cancelled (or model errors)")
    statistics: ModelStatisticsRead | None = Field(
        description="The live-quality figures over the replay's evaluations (when done)"
    )
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ReplayRead:
        total = row["rows_total"]
        progress = ReplayProgressRead(
            coins_done=row["coins_done"],
            coins_total=row["coins_total"],
            rows_done=row["rows_done"],
            rows_total=total,
            fraction=min(1.0, row["rows_done"] / total) if total else (1.0 if total == 0 else None),
        )
        predictions = None
        if "predictions" in row:
            predictions = ReplayPredictionsRead(
                total=row["predictions"], alerts=row["alerts"], positives=row["positives"]
            )
        return cls(
            **{k: row[k] for k in cls.model_fields if k in row and k not in _BUILT},
            progress=progress,
            predictions=predictions,
            statistics=row["statistics"],
        )


class ReplaysResponse(BaseModel):
    replays: list[ReplayRead]
