"""Prediction endpoints (contract §6)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from ml_prediction_service.api.deps import ServiceDep
from ml_prediction_service.api.evaluation_schemas import (
    EvaluationRead,
    NoHorizonEvaluation,
    PendingEvaluation,
)
from ml_prediction_service.api.params import (
    Limit,
    Offset,
    PathId,
    QueryId,
    Text,
    TimeRangeDep,
)
from ml_prediction_service.api.prediction_schemas import (
    LatestPredictionsResponse,
    ModelPrediction,
    PredictionDetail,
    PredictionRead,
    PredictionsListResponse,
    PredictRequest,
    PredictResponse,
)
from ml_prediction_service.api.schemas import ErrorResponse
from ml_prediction_service.db import predictions_repo
from ml_prediction_service.errors import NotFoundError
from ml_prediction_service.evaluation.lookup import prediction_evaluation

router = APIRouter(prefix="/api", tags=["predictions"])


@router.post(
    "/predict",
    response_model=PredictResponse,
    summary="Predict one coin now (or as of a timestamp) with the active models",
    responses={404: {"model": ErrorResponse}, 422: {"model": ErrorResponse}},
)
async def predict(body: PredictRequest, service: ServiceDep) -> PredictResponse:
    result = await service.predict(body.coin_id, model_ids=body.model_ids, at=body.timestamp)
    return PredictResponse(
        coin_id=result.coin_id,
        timestamp=result.timestamp,
        phase_id=result.phase_id,
        history_rows=result.history_rows,
        predictions=[ModelPrediction(**p) for p in result.predictions],
    )


@router.get(
    "/predictions",
    response_model=PredictionsListResponse,
    summary="Stored predictions, newest first, with filters and paging",
)
async def list_predictions(
    service: ServiceDep,
    span: TimeRangeDep,
    coin_id: Text | None = None,
    model_id: QueryId = None,
    active_model_id: QueryId = None,
    prediction: Annotated[int | None, Query(ge=0, le=1)] = None,
    min_probability: Annotated[float | None, Query(ge=0, le=1)] = None,
    is_alert: bool | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> PredictionsListResponse:
    flt = predictions_repo.PredictionFilter(
        coin_id=coin_id,
        model_id=model_id,
        active_model_id=active_model_id,
        prediction=prediction,
        min_probability=min_probability,
        is_alert=is_alert,
        since=span.since,
        until=span.until,
    )
    rows, total = await predictions_repo.list_predictions(
        service.pool, flt, limit=limit, offset=offset
    )
    return PredictionsListResponse(
        predictions=[PredictionRead(**r) for r in rows], total=total, limit=limit, offset=offset
    )


@router.get(
    "/predictions/latest/{coin_id}",
    response_model=LatestPredictionsResponse,
    responses={404: {"model": ErrorResponse}},
    summary="The newest prediction of each model for a coin",
)
async def latest(coin_id: Text, service: ServiceDep) -> LatestPredictionsResponse:
    rows = await predictions_repo.latest_for_coin(service.pool, coin_id)
    if not rows:
        raise NotFoundError(f"no predictions for coin {coin_id!r}")
    return LatestPredictionsResponse(
        coin_id=coin_id, predictions=[PredictionRead(**r) for r in rows]
    )


@router.get(
    "/predictions/{prediction_id}",
    response_model=PredictionDetail,
    responses={404: {"model": ErrorResponse}},
    summary="One prediction with its outcome evaluation",
)
async def get_prediction(prediction_id: PathId, service: ServiceDep) -> PredictionDetail:
    row = await predictions_repo.get_prediction(service.pool, prediction_id)
    if row is None:
        raise NotFoundError(f"no prediction with id {prediction_id}")
    found = await prediction_evaluation(service.pool, row)
    evaluation: EvaluationRead | PendingEvaluation | NoHorizonEvaluation | None = None
    if found is not None and "evaluated_at" in found:
        evaluation = EvaluationRead(**found)
    elif found is not None and found["result"] == "pending":
        evaluation = PendingEvaluation(horizon_at=found["horizon_at"])
    elif found is not None:
        evaluation = NoHorizonEvaluation(note=found["note"])
    return PredictionDetail(**row, evaluation=evaluation)
