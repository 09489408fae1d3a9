"""Replay endpoints (docs/evaluation.md "Replay"): start one, follow it, list a model's."""

from __future__ import annotations

from fastapi import APIRouter, status

from ml_prediction_service.api.deps import ServiceDep
from ml_prediction_service.api.params import Limit, PathId
from ml_prediction_service.api.replay_schemas import ReplayCreate, ReplayRead, ReplaysResponse
from ml_prediction_service.api.schemas import ErrorResponse

router = APIRouter(prefix="/api", tags=["replays"])


@router.post(
    "/models/{active_model_id}/replay",
    response_model=ReplayRead,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Replay a model over stored coin_metrics history (nothing stored or sent)",
    responses={
        404: {"model": ErrorResponse, "description": "Unknown model"},
        409: {"model": ErrorResponse, "description": "The model file cannot be loaded"},
        422: {"model": ErrorResponse, "description": "Bad range or max_rows, range too big"},
        429: {"model": ErrorResponse, "description": "REPLAY_MAX_CONCURRENT replays running"},
    },
)
async def start_replay(
    active_model_id: PathId, body: ReplayCreate, service: ServiceDep
) -> ReplayRead:
    row = await service.replays.start(active_model_id, body.start, body.end, body.max_rows)
    return ReplayRead.from_row(row)


@router.get(
    "/replays/{replay_id}",
    response_model=ReplayRead,
    summary="A replay: status, progress, error, and its statistics when done",
    responses={404: {"model": ErrorResponse, "description": "Unknown replay"}},
)
async def get_replay(replay_id: PathId, service: ServiceDep) -> ReplayRead:
    return ReplayRead.from_row(await service.replays.get(replay_id))


@router.get(
    "/models/{active_model_id}/replays",
    response_model=ReplaysResponse,
    summary="A model's replays, newest first",
    responses={404: {"model": ErrorResponse, "description": "Unknown model"}},
)
async def list_replays(
    active_model_id: PathId, service: ServiceDep, limit: Limit = 20
) -> ReplaysResponse:
    rows = await service.replays.list_for_model(active_model_id, limit)
    return ReplaysResponse(replays=[ReplayRead.from_row(r) for r in rows])
