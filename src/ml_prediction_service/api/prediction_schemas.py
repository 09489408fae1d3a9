"""Request/response models of the prediction endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ml_prediction_service.api.evaluation_schemas import (
    EvaluationRead,
    NoHorizonEvaluation,
    PendingEvaluation,
)
from ml_prediction_service.api.params import BigInt, Text, Timestamp


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    coin_id: Text = Field(min_length=1, max_length=64, description="The coin's mint")
    model_ids: list[BigInt] | None = Field(
        default=None, description="Active model ids to use (default: all active models)"
    )
    timestamp: Timestamp | None = Field(
        default=None,
        description="Predict the coin's newest snapshot at or before this time (default: now; "
        "no offset: UTC)",
    )


class AlertReason(BaseModel):
    feature: str = Field(description="An input column of the model")
    contribution: float = Field(
        description="How much it pushed the output up: in probability (random_forest) or "
        "log-odds (xgboost)"
    )
    value: float = Field(description="The input value the model saw")


class ModelPrediction(BaseModel):
    active_model_id: int
    model_id: int
    model_name: str
    alert_threshold: float
    status: Literal["ok", "refused"]
    prediction: int | None = None
    probability: float | None = None
    is_alert: bool | None = None
    features: dict[str, float] | None = None
    reasons: list[AlertReason] | None = Field(
        default=None, description="An alert's top features (as stored for alerts); else null"
    )
    reason: str | None = Field(default=None, description="Why the model refused (stable key)")
    detail: str | None = None


class PredictResponse(BaseModel):
    coin_id: str
    timestamp: datetime = Field(description="The snapshot's timestamp (coin_metrics)")
    phase_id: int | None
    history_rows: int
    predictions: list[ModelPrediction]
    stored: bool = Field(default=False, description="Manual predictions are not stored")


class PredictionRead(BaseModel):
    id: int
    coin_id: str
    data_timestamp: datetime
    model_id: int
    active_model_id: int | None
    model_name: str | None
    prediction: int
    probability: float
    is_alert: bool | None
    alert_threshold: float | None
    is_stale: bool
    phase_id_at_time: int | None
    prediction_duration_ms: int | None
    event_received_at: datetime | None
    created_at: datetime
    features: dict[str, Any] | None = None
    tag: Literal["negative", "positive", "alert"] | None = Field(
        None, description="alert: p >= threshold; positive: prediction 1 below it; negative"
    )
    suppressed: bool = Field(
        False, description="Inside the model's ignore window: stored, not sent to n8n"
    )
    reasons: list[AlertReason] | None = Field(
        None,
        description="Alerts only: the features that pushed the probability up most, largest "
        "first (ALERT_REASONS of them at most); null for other predictions, with "
        "ALERT_REASONS=0, or when explaining failed",
    )


class PredictionsListResponse(BaseModel):
    predictions: list[PredictionRead]
    total: int
    limit: int
    offset: int


class LatestPredictionsResponse(BaseModel):
    coin_id: str
    predictions: list[PredictionRead]


class PredictionDetail(PredictionRead):
    """One prediction with its outcome evaluation (docs/evaluation.md)."""

    evaluation: EvaluationRead | PendingEvaluation | NoHorizonEvaluation | None = Field(
        None,
        description="The stored evaluation; {result: pending, horizon_at} until then; "
        "not_applicable for a rule-based model without a horizon; null when its model is gone",
    )
