"""A coin's recent ``coin_metrics`` rows (read-only), e.g. for the UI's price chart."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from ml_prediction_service.api.deps import ServiceDep
from ml_prediction_service.api.params import Text, TimeRangeDep
from ml_prediction_service.api.schemas import ErrorResponse
from ml_prediction_service.db import coins_repo

router = APIRouter(prefix="/api/coins", tags=["coins"])


class CoinMetricRead(BaseModel):
    timestamp: datetime
    price_open: float | None
    price_high: float | None
    price_low: float | None
    price_close: float | None
    market_cap_close: float | None
    bonding_curve_pct: float | None
    volume_sol: float | None
    buy_volume_sol: float | None
    sell_volume_sol: float | None
    phase_id_at_time: int | None
    num_buys: int | None
    num_sells: int | None
    is_koth: bool | None


class CoinMetricsResponse(BaseModel):
    coin_id: str
    metrics: list[CoinMetricRead] = Field(description="Oldest first: the newest `limit` rows")
    total: int = Field(description="Rows of this coin in the requested time range")
    limit: int


@router.get(
    "/{coin_id}/metrics",
    response_model=CoinMetricsResponse,
    summary="A coin's coin_metrics rows in a time range (newest `limit`, oldest first)",
    responses={
        422: {"model": ErrorResponse},
        503: {"model": ErrorResponse, "description": "coin_metrics does not exist"},
    },
)
async def coin_metrics(
    coin_id: Text,
    service: ServiceDep,
    span: TimeRangeDep,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> CoinMetricsResponse:
    rows, total = await coins_repo.coin_metrics(
        service.pool, coin_id, since=span.since, until=span.until, limit=limit
    )
    return CoinMetricsResponse(
        coin_id=coin_id,
        metrics=[CoinMetricRead(**r) for r in rows],
        total=total,
        limit=limit,
    )
