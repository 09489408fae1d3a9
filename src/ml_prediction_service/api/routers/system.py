"""Health, metrics and stats (contract §6)."""

from __future__ import annotations

import dataclasses

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from ml_prediction_service import __version__
from ml_prediction_service.api.deps import ServiceDep
from ml_prediction_service.api.schemas import (
    FailedModelRead,
    HealthResponse,
    PipelineRead,
    PrecisionBelowFloorRead,
    StatsResponse,
    TriggerRead,
)
from ml_prediction_service.db import system_repo
from ml_prediction_service.observability.health import HealthReport
from ml_prediction_service.observability.metrics import CONTENT_TYPE

router = APIRouter(tags=["system"])

_HEALTH_RESPONSES: dict[int | str, dict[str, object]] = {
    503: {"model": HealthResponse, "description": "Degraded"}
}


def _health_read(report: HealthReport, pipeline_enabled: bool) -> HealthResponse:
    db, trigger = report.db, report.trigger
    return HealthResponse(
        status="healthy" if report.status == "healthy" else "degraded",
        db_connected=db.connected,
        active_models=report.active_models,
        predictions_last_hour=db.predictions_last_hour,
        uptime_seconds=report.uptime_seconds,
        last_error=db.last_error,
        reasons=report.reasons,
        coin_metrics_trigger=TriggerRead(
            installed=trigger.installed, mode=trigger.mode, reason=trigger.reason
        ),
        use_listen_notify=trigger.installed and report.listener_connected,
        pipeline=PipelineRead(
            enabled=pipeline_enabled,
            listener_connected=report.listener_connected,
            polling=report.polling,
            events_pending=db.events_pending,
            oldest_pending_seconds=db.oldest_pending_seconds,
            events_processed=report.events_processed,
            batches=report.batches,
            coins_cached=report.coins_cached,
        ),
        models_failed=[
            FailedModelRead(id=m.id, name=m.name, error=m.error, serving=m.serving)
            for m in report.failed
        ],
        models_below_precision_floor=[
            PrecisionBelowFloorRead(**dataclasses.asdict(m)) for m in report.below_precision_floor
        ],
        version=__version__,
    )


@router.get(
    "/api/health",
    response_model=HealthResponse,
    responses=_HEALTH_RESPONSES,
    summary="Health check (200 healthy, 503 degraded); also at /health",
)
@router.get("/health", response_model=HealthResponse, responses=_HEALTH_RESPONSES)
async def health(service: ServiceDep) -> JSONResponse:
    report = await service.health()
    body = _health_read(report, service.settings.pipeline_enabled)
    return JSONResponse(body.model_dump(), status_code=200 if report.status == "healthy" else 503)


@router.get("/api/metrics", response_class=Response, summary="Prometheus metrics; also /metrics")
@router.get("/metrics", response_class=Response)
async def metrics(service: ServiceDep) -> Response:
    return Response(
        content=service.metrics.render(), media_type=None, headers={"content-type": CONTENT_TYPE}
    )


@router.get("/api/stats", response_model=StatsResponse, summary="Prediction statistics")
async def stats(service: ServiceDep) -> StatsResponse:
    return StatsResponse(**await system_repo.stats(service.pool))
