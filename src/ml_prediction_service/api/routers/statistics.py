"""Live model quality endpoints (docs/evaluation.md): one model's statistics, and all models
side by side."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from ml_prediction_service.api.deps import ServiceDep
from ml_prediction_service.api.params import PathId
from ml_prediction_service.api.schemas import ErrorResponse
from ml_prediction_service.api.statistics_schemas import (
    AlertStatisticsResponse,
    ModelStatisticsRead,
    ModelSummaryRead,
    Window,
)
from ml_prediction_service.evaluation import statistics

router = APIRouter(prefix="/api", tags=["statistics"])

WindowQuery = Annotated[
    Window,
    Query(description="Predictions of the last hour, the last 24 hours, or all (by data time)"),
]


@router.get(
    "/models/{active_model_id}/statistics",
    response_model=ModelStatisticsRead,
    summary="Live quality of a model: alert precision, hit rate, base rate, calibration, …",
    responses={404: {"model": ErrorResponse, "description": "Unknown model"}},
)
async def model_statistics(
    active_model_id: PathId, service: ServiceDep, window: WindowQuery = "all"
) -> ModelStatisticsRead:
    found = await statistics.model_statistics(
        service.pool, active_model_id=active_model_id, window=window
    )
    return ModelStatisticsRead.model_validate(found.to_dict())


@router.get(
    "/alerts/statistics",
    response_model=AlertStatisticsResponse,
    summary="Live quality of every imported model, side by side",
)
async def alert_statistics(
    service: ServiceDep, window: WindowQuery = "all"
) -> AlertStatisticsResponse:
    rows = await statistics.all_model_statistics(service.pool, window=window)
    return AlertStatisticsResponse(
        window=window, models=[ModelSummaryRead.model_validate(r.to_dict()) for r in rows]
    )
