"""Health, metrics and stats (guide steps 7.5, 12, 13, 14)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from ml_prediction_service import __version__
from ml_prediction_service.api.deps import ServiceDep
from ml_prediction_service.api.schemas import (
    FailedModelRead,
    HealthResponse,
    PipelineRead,
    StatsResponse,
    TriggerRead,
)
from ml_prediction_service.db import events_repo, system_repo
from ml_prediction_service.observability.health import DB_ERRORS
from ml_prediction_service.observability.metrics import CONTENT_TYPE

router = APIRouter(tags=["system"])

_HEALTH_RESPONSES: dict[int | str, dict[str, object]] = {
    503: {"model": HealthResponse, "description": "Degraded"}
}


async def _health(service: ServiceDep) -> JSONResponse:
    health = service.health
    active_models = predictions_last_hour = pending = 0
    oldest: datetime | None = None
    try:
        async with asyncio.timeout(1.5), service.pool.acquire() as conn:
            active_models, predictions_last_hour = await system_repo.health_counts(conn)
            pending, oldest = await events_repo.pending(conn)
        health.record_db_ok()
    except DB_ERRORS as exc:
        health.record_db_failure(exc)
    reasons = []
    if not health.db_connected:
        reasons.append(f"database not connected ({health.last_error or 'unknown error'})")
    trigger = health.trigger
    if not trigger.installed:
        reasons.append(f"coin_metrics trigger not active: {trigger.reason}")
    enabled = service.settings.pipeline_enabled
    if enabled and not service.listener.connected and trigger.installed:
        reasons.append("NOTIFY listener not connected (reconnecting)")
    failed = service.registry.failed()
    for m in failed:
        reasons.append(f"model {m.id} ({m.name}) failing: {m.error or m.batch_error}")
    service.metrics.events_pending.set(pending)
    body = HealthResponse(
        status="healthy" if not reasons else "degraded",
        db_connected=health.db_connected,
        active_models=active_models,
        predictions_last_hour=predictions_last_hour,
        uptime_seconds=int(health.uptime_seconds),
        last_error=health.last_error,
        reasons=reasons,
        coin_metrics_trigger=TriggerRead(
            installed=trigger.installed, mode=trigger.mode, reason=trigger.reason
        ),
        use_listen_notify=trigger.installed and service.listener.connected,
        pipeline=PipelineRead(
            enabled=enabled,
            listener_connected=service.listener.connected,
            polling=service.poller.active,
            events_pending=pending,
            oldest_pending_seconds=(
                (datetime.now(UTC) - oldest).total_seconds() if oldest is not None else None
            ),
            events_processed=service.events_processed,
            batches=sum(w.stats.batches for w in service.workers),
            coins_cached=service.coins_cached,
        ),
        models_failed=[
            FailedModelRead(
                id=m.id,
                name=m.name,
                error=m.error or m.batch_error or "",
                serving=m.loaded is not None,
            )
            for m in failed
        ],
        version=__version__,
    )
    service.metrics.active_models.set(active_models)
    return JSONResponse(body.model_dump(), status_code=200 if not reasons else 503)


@router.get(
    "/api/health",
    response_model=HealthResponse,
    responses=_HEALTH_RESPONSES,
    summary="Health check (200 healthy, 503 degraded)",
)
async def api_health(service: ServiceDep) -> JSONResponse:
    return await _health(service)


@router.get(
    "/health",
    response_model=HealthResponse,
    responses=_HEALTH_RESPONSES,
    summary="Health check (alias without /api)",
)
async def health(service: ServiceDep) -> JSONResponse:
    return await _health(service)


def _metrics(service: ServiceDep) -> Response:
    return Response(
        content=service.metrics.render(), media_type=None, headers={"content-type": CONTENT_TYPE}
    )


@router.get("/api/metrics", response_class=Response, summary="Prometheus metrics")
async def api_metrics(service: ServiceDep) -> Response:
    return _metrics(service)


@router.get("/metrics", response_class=Response, summary="Prometheus metrics (alias)")
async def metrics(service: ServiceDep) -> Response:
    return _metrics(service)


@router.get("/api/stats", response_model=StatsResponse, summary="Prediction statistics")
async def stats(service: ServiceDep) -> StatsResponse:
    async with service.pool.acquire() as conn:
        row = await system_repo.stats(conn)
    return StatsResponse(**row)
