"""Model registry endpoints (contract §6). Static paths come before ``/{active_model_id}``."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.types import DecoratedCallable
from pydantic import ValidationError

from ml_prediction_service.api.deps import ServiceDep
from ml_prediction_service.api.errors import describe_json_error
from ml_prediction_service.api.model_schemas import (
    ActiveModelRead,
    AlertThresholdUpdate,
    AvailableModelRead,
    AvailableModelsResponse,
    CoinFilterUpdate,
    DeletedModelRead,
    IgnoreWindowsUpdate,
    ModelImportRequest,
    ModelRename,
    ModelsListResponse,
    RuntimeRead,
    UploadMetadata,
)
from ml_prediction_service.api.params import PathId
from ml_prediction_service.api.schemas import ErrorResponse
from ml_prediction_service.errors import ServiceError
from ml_prediction_service.models.metadata import ActiveModelRecord, AvailableModel
from ml_prediction_service.service import Service

router = APIRouter(prefix="/api/models", tags=["models"])


def _errors(descriptions: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses``: an :class:`ErrorResponse` with this description per status."""
    return {code: {"model": ErrorResponse, "description": d} for code, d in descriptions.items()}


_UNKNOWN_MODEL = {404: "Unknown model"}
_TRAINING_SERVICE_FAILED = {502: "Training service failed"}
_ERRORS = _errors(_UNKNOWN_MODEL)


def _patch_model(
    setting: str, summary: str | None = None
) -> Callable[[DecoratedCallable], DecoratedCallable]:
    """``PATCH /{active_model_id}/<setting>``: changes one setting, answers the model."""
    return router.patch(
        f"/{{active_model_id}}/{setting}",
        response_model=ActiveModelRead,
        responses=_ERRORS,
        summary=summary,
    )


def to_read(service: Service, row: ActiveModelRecord) -> ActiveModelRead:
    info = service.registry.runtime_info(row.id, is_active=row.is_active)
    fields = {f.name: getattr(row, f.name) for f in dataclasses.fields(row)}
    return ActiveModelRead(
        **{k: v for k, v in fields.items() if k in ActiveModelRead.model_fields},
        name=row.name,
        runtime=RuntimeRead(**dataclasses.asdict(info)),
    )


def available_read(model: AvailableModel) -> AvailableModelRead:
    return AvailableModelRead(
        **model.row,
        already_imported=model.active_model_id is not None,
        active_model_id=model.active_model_id,
        importable=model.reason is None,
        reason=model.reason,
    )


@router.get(
    "/available",
    response_model=AvailableModelsResponse,
    summary="READY training-service models that can be imported",
)
async def list_available(service: ServiceDep) -> AvailableModelsResponse:
    rows, reason = await service.models.list_available()
    models = [available_read(row) for row in rows]
    return AvailableModelsResponse(models=models, total=len(models), reason=reason)


@router.post(
    "/import",
    response_model=ActiveModelRead,
    status_code=201,
    summary="Download, verify and activate a training-service model",
    responses=_errors(
        {
            409: "Already imported / not READY",
            422: "File or metadata not servable",
            **_TRAINING_SERVICE_FAILED,
        }
    ),
)
async def import_model(body: ModelImportRequest, service: ServiceDep) -> ActiveModelRead:
    row = await service.models.import_model(body.model_id)
    return to_read(service, row)


@router.post(
    "/upload",
    response_model=ActiveModelRead,
    status_code=201,
    summary="Upload a joblib model file with its metadata (requires API_KEY)",
    responses=_errors({403: "Uploads disabled"}),
)
async def upload_model(
    service: ServiceDep,
    file: Annotated[UploadFile, File(description="joblib.dump of the bare estimator")],
    metadata: Annotated[str, Form(description="JSON object: name, model_type, features, …")],
) -> ActiveModelRead:
    try:
        meta = UploadMetadata.model_validate(json.loads(metadata))
    except json.JSONDecodeError as exc:
        detail = describe_json_error(exc.doc, exc.pos, exc.msg, what="the metadata field")
        raise ServiceError(detail, code="validation_error", status=422) from exc
    except ValidationError as exc:
        details = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise ServiceError(
            f"invalid metadata: {details}", code="validation_error", status=422
        ) from exc
    row = await service.models.upload(file, meta.model_dump(), filename=file.filename)
    return to_read(service, row)


@router.get("/active", response_model=ModelsListResponse, summary="Active models")
async def list_active(service: ServiceDep) -> ModelsListResponse:
    rows = await service.models.list(include_inactive=False)
    return ModelsListResponse(models=[to_read(service, r) for r in rows], total=len(rows))


@router.get("", response_model=ModelsListResponse, summary="All imported models")
async def list_models(service: ServiceDep) -> ModelsListResponse:
    rows = await service.models.list(include_inactive=True)
    return ModelsListResponse(models=[to_read(service, r) for r in rows], total=len(rows))


@router.get("/{active_model_id}", response_model=ActiveModelRead, responses=_ERRORS)
async def get_model(active_model_id: PathId, service: ServiceDep) -> ActiveModelRead:
    return to_read(service, await service.models.get(active_model_id))


@router.post("/{active_model_id}/activate", response_model=ActiveModelRead, responses=_ERRORS)
async def activate(active_model_id: PathId, service: ServiceDep) -> ActiveModelRead:
    return to_read(service, await service.models.activate(active_model_id))


@router.post("/{active_model_id}/deactivate", response_model=ActiveModelRead, responses=_ERRORS)
async def deactivate(active_model_id: PathId, service: ServiceDep) -> ActiveModelRead:
    return to_read(service, await service.models.deactivate(active_model_id))


@router.post(
    "/{active_model_id}/reimport",
    response_model=ActiveModelRead,
    summary="Download the model's file from the training service again, verify and serve it",
    responses=_errors(
        {
            **_UNKNOWN_MODEL,
            409: "An uploaded model",
            422: "File not servable",
            **_TRAINING_SERVICE_FAILED,
        }
    ),
)
async def reimport(active_model_id: PathId, service: ServiceDep) -> ActiveModelRead:
    return to_read(service, await service.models.reimport(active_model_id))


@_patch_model("rename", summary="A new display name and, optionally, a new description")
async def rename(
    active_model_id: PathId, body: ModelRename, service: ServiceDep
) -> ActiveModelRead:
    row = await service.models.rename(active_model_id, body.name, body.description)
    return to_read(service, row)


@_patch_model("alert-threshold")
async def set_alert_threshold(
    active_model_id: PathId, body: AlertThresholdUpdate, service: ServiceDep
) -> ActiveModelRead:
    row = await service.models.set_alert_threshold(active_model_id, body.alert_threshold)
    return to_read(service, row)


@_patch_model(
    "ignore-windows",
    summary="Ignore windows per tag (seconds of coin time after a sent prediction; 0: off)",
)
async def set_ignore_windows(
    active_model_id: PathId, body: IgnoreWindowsUpdate, service: ServiceDep
) -> ActiveModelRead:
    row = await service.models.set_ignore_windows(
        active_model_id, alert=body.alert, positive=body.positive, negative=body.negative
    )
    return to_read(service, row)


@_patch_model(
    "coin-filter",
    summary="Which coins the model predicts: all, a whitelist or a blacklist of mints",
)
async def set_coin_filter(
    active_model_id: PathId, body: CoinFilterUpdate, service: ServiceDep
) -> ActiveModelRead:
    row = await service.models.set_coin_filter(active_model_id, body.mode, body.coins)
    return to_read(service, row)


@router.delete("/{active_model_id}", response_model=DeletedModelRead, responses=_ERRORS)
async def delete_model(active_model_id: PathId, service: ServiceDep) -> DeletedModelRead:
    row = await service.models.delete(active_model_id)
    return DeletedModelRead(id=row.id, model_id=row.model_id, name=row.name)
