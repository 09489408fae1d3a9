"""Request/response models of the REST API."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from ml_prediction_service.db.events_repo import PENDING_COUNT_CAP


class ErrorResponse(BaseModel):
    detail: str = Field(description="What went wrong, for a person.")
    code: str = Field(description="Stable machine-readable error code.")


class TriggerRead(BaseModel):
    installed: bool
    mode: Literal["statement", "row"] | None
    reason: str | None


class FailedModelRead(BaseModel):
    id: int
    name: str
    error: str
    serving: bool = Field(
        description="Whether a verified copy still serves (e.g. after its file changed on disk)"
    )


class PrecisionBelowFloorRead(BaseModel):
    id: int = Field(description="The active model")
    name: str
    precision: float = Field(description="Live alert precision over its last `alerts` alerts")
    alerts: int = Field(description="Evaluated alerts the precision is over")
    floor: float = Field(description="ALERT_PRECISION_FLOOR")


class PipelineRead(BaseModel):
    enabled: bool
    listener_connected: bool
    polling: bool = Field(description="Polling fallback active (trigger not usable)")
    events_pending: int = Field(
        description=f"Durable events waiting, counted up to {PENDING_COUNT_CAP:,} (that "
        "many means at least that many); oldest_pending_seconds is exact at any backlog"
    )
    oldest_pending_seconds: float | None
    events_processed: int
    batches: int
    coins_cached: int


class HealthResponse(BaseModel):
    status: Literal["healthy", "degraded"]
    db_connected: bool
    active_models: int
    predictions_last_hour: int
    uptime_seconds: int
    last_error: str | None
    reasons: list[str] = Field(description="Why the status is degraded (empty when healthy).")
    coin_metrics_trigger: TriggerRead
    use_listen_notify: bool = Field(
        description="Events arrive by trigger + LISTEN/NOTIFY (false: polling fallback)"
    )
    pipeline: PipelineRead
    models_failed: list[FailedModelRead] = Field(
        description="Active models that cannot be loaded, whose file is missing or changed, "
        "or whose last batch failed (each makes health degraded)"
    )
    models_below_precision_floor: list[PrecisionBelowFloorRead] = Field(
        default_factory=list,
        description="Active models whose live alert precision over their last "
        "ALERT_PRECISION_MIN_ALERTS evaluated alerts is below ALERT_PRECISION_FLOOR (each "
        "makes health degraded; empty while the floor is 0)",
    )
    version: str


class StatsResponse(BaseModel):
    total_predictions: int
    predictions_last_hour: int
    active_models: int
    coins_tracked: int
    avg_prediction_time_ms: float | None
