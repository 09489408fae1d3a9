"""Response models of live model quality (``/api/models/{id}/statistics``,
``/api/alerts/statistics``); definitions of every figure: docs/evaluation.md."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

Window = Literal["1h", "24h", "all"]


class CalibrationBinRead(BaseModel):
    lower: float = Field(description="Bin start (inclusive)")
    upper: float = Field(description="Bin end (exclusive; the last bin includes 1.0)")
    count: int = Field(description="Evaluated predictions whose probability is in the bin")
    mean_probability: float | None = Field(description="Their mean predicted probability")
    observed_frequency: float | None = Field(description="Share of them whose target was hit")


class PrecisionPointRead(BaseModel):
    start: datetime = Field(description="Start of the hour or day (UTC)")
    evaluated: int
    alerts: int
    alerts_true: int = Field(description="Alerts whose target was hit")
    precision: float | None = Field(description="alerts_true / alerts (null: no alerts)")


class ModelStatisticsRead(BaseModel):
    """A model's live quality in a window, and what training measured beside it."""

    active_model_id: int
    model_id: int
    name: str
    source: Literal["live", "replay"]
    replay_id: int | None
    window: Window
    bucket: Literal["hour", "day"] = Field(description="The step of precision_over_time")
    evaluable: bool = Field(description="false: a model without a horizon (nothing to evaluate)")
    reason: str | None = Field(description="Why the model is not evaluable")
    alert_threshold: float
    future_minutes: int | None = Field(description="The horizon")
    target_direction: str | None
    price_change_percent: float | None
    target_variable: str
    target_operator: str | None
    target_value: float | None
    evaluated: int = Field(description="Evaluated predictions (result success or failed)")
    not_applicable: int = Field(description="Predictions whose outcome is not_applicable")
    alerts: int = Field(description="Evaluated alerts")
    alerts_true: int = Field(description="Evaluated alerts whose target was hit")
    alert_precision: float | None = Field(description="alerts_true / alerts")
    positives: int = Field(description="Evaluated predictions with prediction = 1")
    positives_hit: int
    positive_hit_rate: float | None = Field(description="positives_hit / positives")
    targets_hit: int = Field(description="Evaluated predictions whose target was hit")
    base_rate: float | None = Field(description="targets_hit / evaluated")
    mean_move_after_alert: float | None = Field(
        description="Mean realised change (%) from an alert's row to its horizon"
    )
    successes: int
    accuracy: float | None = Field(description="successes / evaluated")
    calibration: list[CalibrationBinRead] = Field(
        description="Ten bins of predicted probability; their counts add up to evaluated"
    )
    precision_over_time: list[PrecisionPointRead] = Field(
        description="Per hour (1h, 24h) or day (all) with evaluated predictions, oldest first"
    )
    training_metrics: dict[str, Any] = Field(
        description="The training service's metrics, copied at import (without feature_importance)"
    )
    training_base_rate: float | None = Field(
        description="Share of positives in the training test set: (tp + fn) / all of the "
        "confusion matrix"
    )


class ModelSummaryRead(BaseModel):
    active_model_id: int
    model_id: int
    name: str
    is_active: bool
    evaluable: bool
    reason: str | None
    alert_threshold: float
    future_minutes: int | None
    evaluated: int
    not_applicable: int
    alerts: int
    alerts_true: int
    alert_precision: float | None
    positive_hit_rate: float | None
    base_rate: float | None
    mean_move_after_alert: float | None
    accuracy: float | None
    training_precision: float | None = Field(description="training_metrics.training_precision")
    training_base_rate: float | None


class AlertStatisticsResponse(BaseModel):
    window: Window
    models: list[ModelSummaryRead] = Field(description="Every imported model, by id")
