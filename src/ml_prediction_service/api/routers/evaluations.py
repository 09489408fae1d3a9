"""Outcome evaluations (docs/evaluation.md): the list with filters and paging."""

from __future__ import annotations

from fastapi import APIRouter

from ml_prediction_service.api.deps import ServiceDep
from ml_prediction_service.api.evaluation_schemas import (
    EvaluationRead,
    EvaluationsListResponse,
    Result,
)
from ml_prediction_service.api.params import Limit, Offset, QueryId, Text, TimeRangeDep
from ml_prediction_service.db import evaluations_repo

router = APIRouter(prefix="/api", tags=["evaluations"])


@router.get(
    "/evaluations",
    response_model=EvaluationsListResponse,
    summary="Evaluated predictions (did they come true?), newest data first, with filters",
)
async def list_evaluations(
    service: ServiceDep,
    span: TimeRangeDep,
    model_id: QueryId = None,
    active_model_id: QueryId = None,
    coin_id: Text | None = None,
    result: Result | None = None,
    is_alert: bool | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> EvaluationsListResponse:
    flt = evaluations_repo.EvaluationFilter(
        model_id=model_id,
        active_model_id=active_model_id,
        coin_id=coin_id,
        result=result,
        is_alert=is_alert,
        since=span.since,
        until=span.until,
    )
    rows, total = await evaluations_repo.list_evaluations(
        service.pool, flt, limit=limit, offset=offset
    )
    return EvaluationsListResponse(
        items=[EvaluationRead(**r) for r in rows], total=total, limit=limit, offset=offset
    )
