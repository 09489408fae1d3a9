"""Webhook settings per model, the delivery log, and a test send."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, model_validator

from ml_prediction_service.alerts.routing import SEND_MODES
from ml_prediction_service.api.deps import ServiceDep
from ml_prediction_service.api.model_schemas import ActiveModelRead
from ml_prediction_service.api.params import (
    From,
    HttpStatus,
    Limit,
    Offset,
    PathId,
    QueryId,
    Text,
    Timestamp,
)
from ml_prediction_service.api.routers.models import to_read
from ml_prediction_service.api.schemas import ErrorResponse
from ml_prediction_service.db import webhooks_repo
from ml_prediction_service.models.manager import UNSET, Unset

router = APIRouter(prefix="/api", tags=["webhooks"])

SendMode = Literal["all", "alerts_only", "positive_only", "negative_only", "evaluations"]
assert set(SendMode.__args__) == set(SEND_MODES)  # type: ignore[attr-defined]


class WebhookSettingsUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: AnyHttpUrl | None = Field(
        default=None, description="Override of N8N_WEBHOOK_URL for this model (null: default)"
    )
    enabled: bool | None = None
    send_mode: list[SendMode] | None = Field(
        default=None,
        min_length=1,
        description="Any of all, alerts_only, positive_only, negative_only (OR), and "
        "evaluations: the outcome of each evaluated alert as a follow-up webhook",
    )


class WebhookLogRead(BaseModel):
    id: int
    coin_id: str
    data_timestamp: datetime
    webhook_url: str
    payload: dict[str, Any]
    response_status: int | None
    response_body: str | None
    error_message: str | None
    outbox_id: int | None
    attempt: int | None
    idempotency_key: str | None
    duration_ms: int | None
    outcome: str | None
    created_at: datetime


class WebhookLogResponse(BaseModel):
    entries: list[WebhookLogRead]
    total: int
    limit: int
    offset: int


class OutboxStats(BaseModel):
    open: int
    oldest_open_at: datetime | None
    failed: int
    delivered: int
    superseded: int = Field(0, description="Replaced by a newer snapshot of the coin, not sent")
    expired: int = Field(0, description="Older than WEBHOOK_MAX_AGE_SECONDS when due, not sent")
    lag_ms: dict[str, float | None] = Field(
        default_factory=dict,
        description="Delivery lag (predictions written → 2xx) of the last hour: p50, p95, p99",
    )


RetryStatus = Literal["failed", "expired"]


class RetryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: list[RetryStatus] = Field(
        default_factory=lambda: list[RetryStatus](["failed", "expired"]), min_length=1
    )
    from_: Timestamp | None = Field(None, alias="from")
    to: Timestamp | None = None

    @model_validator(mode="after")
    def _from_not_after_to(self) -> RetryRequest:
        if self.from_ is not None and self.to is not None and self.from_ > self.to:
            raise ValueError("'from' must not be after 'to'")
        return self


class RetryResult(BaseModel):
    requeued: int
    ids: list[int]


class DeliveryRead(BaseModel):
    id: int
    coin_id: str
    data_timestamp: datetime
    webhook_url: str
    status: str
    attempts: int
    last_status: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    closed_at: datetime | None


class DeliveriesResponse(BaseModel):
    deliveries: list[DeliveryRead]
    total: int
    limit: int
    offset: int


class WebhookTestResult(BaseModel):
    url: str
    webhook_enabled: bool
    ok: bool
    status_code: int | None
    response_body: str | None
    error: str | None
    duration_ms: int
    payload: dict[str, Any]


@router.patch(
    "/models/{active_model_id}/webhook",
    response_model=ActiveModelRead,
    responses={404: {"model": ErrorResponse}},
    summary="Webhook URL override, enabled flag and send modes of a model",
)
async def update_webhook(
    active_model_id: PathId, body: WebhookSettingsUpdate, service: ServiceDep
) -> ActiveModelRead:
    url = body.url if "url" in body.model_fields_set else UNSET
    row = await service.models.set_webhook(
        active_model_id,
        url=str(url) if url is not None and not isinstance(url, Unset) else url,
        enabled=body.enabled,
        send_mode=body.send_mode,
    )
    return to_read(service, row)


@router.post(
    "/models/{active_model_id}/webhook-test",
    response_model=WebhookTestResult,
    responses={404: {"model": ErrorResponse}, 409: {"model": ErrorResponse}},
    summary="Send a sample payload for this model now; report the receiver's answer",
)
async def webhook_test(active_model_id: PathId, service: ServiceDep) -> WebhookTestResult:
    return WebhookTestResult(**await service.webhook_test(active_model_id))


@router.get(
    "/webhooks/log",
    response_model=WebhookLogResponse,
    summary="Webhook delivery attempts, newest first",
)
async def webhook_log(
    service: ServiceDep,
    coin_id: Text | None = None,
    outcome: Literal["delivered", "retry", "failed", "test"] | None = None,
    response_status: HttpStatus = None,
    outbox_id: QueryId = None,
    from_: From = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> WebhookLogResponse:
    flt = webhooks_repo.LogFilter(
        coin_id=coin_id,
        outcome=outcome,
        response_status=response_status,
        outbox_id=outbox_id,
        since=from_,
    )
    rows, total = await webhooks_repo.list_log(service.pool, flt, limit=limit, offset=offset)
    return WebhookLogResponse(
        entries=[WebhookLogRead(**r) for r in rows], total=total, limit=limit, offset=offset
    )


@router.get("/webhooks/outbox", response_model=OutboxStats, summary="Outbox depth and totals")
async def outbox(service: ServiceDep) -> OutboxStats:
    stats = await webhooks_repo.outbox_stats(service.pool, with_lag=True)
    return OutboxStats(
        open=stats["open"],
        oldest_open_at=stats["oldest_open"],
        failed=stats["failed"],
        delivered=stats["delivered"],
        superseded=stats["superseded"],
        expired=stats["expired"],
        lag_ms=stats["lag_ms"],
    )


@router.get(
    "/webhooks/outbox/deliveries",
    response_model=DeliveriesResponse,
    summary="Outbox deliveries, newest first (e.g. the failed ones)",
)
async def deliveries(
    service: ServiceDep,
    status: Literal["pending", "sending", "delivered", "failed", "superseded", "expired"]
    | None = None,
    coin_id: Text | None = None,
    limit: Limit = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> DeliveriesResponse:
    rows, total = await webhooks_repo.list_deliveries(
        service.pool, status=status, coin_id=coin_id, limit=limit, offset=offset
    )
    return DeliveriesResponse(
        deliveries=[DeliveryRead(**r) for r in rows], total=total, limit=limit, offset=offset
    )


@router.post(
    "/webhooks/outbox/{delivery_id}/retry",
    response_model=RetryResult,
    responses={404: {"model": ErrorResponse}},
    summary="Send a failed or expired delivery again (due now, its age restarts)",
)
async def retry_one(delivery_id: PathId, service: ServiceDep) -> RetryResult:
    ids = await service.webhooks.requeue(["failed", "expired"], delivery_id=delivery_id)
    return RetryResult(requeued=len(ids), ids=ids)


@router.post(
    "/webhooks/outbox/retry",
    response_model=RetryResult,
    summary="Send failed and/or expired deliveries of a time range again",
)
async def retry_many(body: RetryRequest, service: ServiceDep) -> RetryResult:
    ids = await service.webhooks.requeue(list(body.status), since=body.from_, until=body.to)
    return RetryResult(requeued=len(ids), ids=ids)
