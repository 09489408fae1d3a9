"""Schemas of the outcome evaluations (docs/evaluation.md): a stored evaluation, and what a
prediction's detail says while it has none."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

Result = Literal["success", "failed", "not_applicable"]


class EvaluationRead(BaseModel):
    """One evaluated prediction: the prediction's facts (copied), the window and the
    outcome."""

    prediction_id: int
    data_timestamp: datetime
    coin_id: str
    model_id: int
    active_model_id: int | None
    model_name: str | None
    probability: float
    prediction: int
    is_alert: bool
    tag: str | None
    target_variable: str
    future_minutes: int | None
    price_change_percent: float | None
    target_direction: str | None
    horizon_at: datetime | None
    start_value: float | None = Field(description="target_variable on the prediction's row")
    end_value: float | None = Field(description="On the newest row at or before horizon_at")
    end_timestamp: datetime | None
    realised_change_pct: float | None = Field(description="(end - start) / start * 100")
    max_change_pct: float | None = Field(description="Highest value in (data_timestamp, horizon]")
    max_at: datetime | None
    min_change_pct: float | None = Field(description="Lowest value in (data_timestamp, horizon]")
    min_at: datetime | None
    target_hit: bool | None = Field(description="The realised label (null: not applicable)")
    result: Result
    note: str | None
    evaluated_at: datetime


class PendingEvaluation(BaseModel):
    """A prediction of a model with a horizon that has not been evaluated yet."""

    result: Literal["pending"] = "pending"
    horizon_at: datetime


class NoHorizonEvaluation(BaseModel):
    """A prediction of a rule-based model without a horizon: nothing to evaluate later."""

    result: Literal["not_applicable"] = "not_applicable"
    horizon_at: None = None
    note: str


class EvaluationsListResponse(BaseModel):
    items: list[EvaluationRead]
    total: int
    limit: int
    offset: int
