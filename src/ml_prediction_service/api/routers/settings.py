"""Service settings kept in the database: defaults for newly imported models."""

from __future__ import annotations

import dataclasses

from fastapi import APIRouter

from ml_prediction_service.api.deps import ServiceDep
from ml_prediction_service.api.model_schemas import ModelDefaultsRead, ModelDefaultsUpdate
from ml_prediction_service.models.defaults import ModelDefaults

router = APIRouter(prefix="/api/settings", tags=["settings"])


def _read(defaults: ModelDefaults) -> ModelDefaultsRead:
    return ModelDefaultsRead(**dataclasses.asdict(defaults))


@router.get(
    "/model-defaults",
    response_model=ModelDefaultsRead,
    summary="What a newly imported model starts with",
)
async def get_model_defaults(service: ServiceDep) -> ModelDefaultsRead:
    return _read(await service.models.defaults())


@router.patch(
    "/model-defaults",
    response_model=ModelDefaultsRead,
    summary="Change the defaults for newly imported models (given fields only)",
)
async def update_model_defaults(
    body: ModelDefaultsUpdate, service: ServiceDep
) -> ModelDefaultsRead:
    given = body.model_dump(exclude_unset=True)
    # null leaves a field as it is, except the URL, where null means N8N_WEBHOOK_URL
    changes = {k: v for k, v in given.items() if v is not None or k == "webhook_url"}
    if changes.get("webhook_url") is not None:
        changes["webhook_url"] = str(body.webhook_url)
    return _read(await service.models.set_defaults(**changes))
