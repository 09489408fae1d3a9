"""Model management use cases (import, upload, activate, rename, re-threshold, delete).

The API routers are thin adapters over these functions. Every change commits a NOTIFY so
all replicas refresh, and refreshes this replica's registry right away.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from ml_prediction_service.config import Settings
from ml_prediction_service.db import models_repo
from ml_prediction_service.errors import ConflictError, NotFoundError, ServiceError
from ml_prediction_service.models.files import (
    StagedFile,
    download_model_file,
    final_path,
    place,
    stage_bytes,
)
from ml_prediction_service.models.loaded import LoadedModel, load_model
from ml_prediction_service.models.registry import ModelRegistry

logger = logging.getLogger(__name__)

SUPPORTED_TYPES = ("random_forest", "xgboost")
TRAINING_METRIC_FIELDS = (
    "training_accuracy",
    "training_f1",
    "training_precision",
    "training_recall",
    "roc_auc",
    "mcc",
    "fpr",
    "fnr",
    "confusion_matrix",
    "cv_scores",
    "simulated_profit_pct",
    "feature_importance",
    "train_start",
    "train_end",
)


class InvalidModelMetadata(ServiceError):
    code = "invalid_model_metadata"
    status = 422


def _time_based(meta: dict[str, Any]) -> dict[str, Any]:
    params = meta.get("params") or {}
    tb = params.get("_time_based") if isinstance(params, dict) else None
    return tb if isinstance(tb, dict) else {}


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def metadata_values(meta: dict[str, Any], default_threshold: float) -> dict[str, Any]:
    """Columns of prediction_active_models taken from an ml_models row (or upload metadata).

    Time-based fields come from the columns or, where those are NULL, from
    ``params._time_based`` (min_percent_change = price_change_percent).
    """
    name = meta.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InvalidModelMetadata("model metadata needs a non-empty 'name'")
    model_type = meta.get("model_type")
    if model_type not in SUPPORTED_TYPES:
        raise InvalidModelMetadata(
            f"model_type {model_type!r} is not supported; use one of {list(SUPPORTED_TYPES)}"
        )
    features = meta.get("features")
    if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
        raise InvalidModelMetadata("model metadata 'features' must be a list of names")
    target_variable = meta.get("target_variable")
    if not isinstance(target_variable, str) or not target_variable:
        raise InvalidModelMetadata("model metadata needs 'target_variable'")
    operator = meta.get("target_operator")
    if operator not in (None, ">", "<", ">=", "<=", "="):
        raise InvalidModelMetadata(f"target_operator {operator!r} is not one of > < >= <= =")
    tb = _time_based(meta)
    direction = _first(meta.get("target_direction"), tb.get("direction"))
    if direction not in (None, "up", "down"):
        raise InvalidModelMetadata(f"target_direction {direction!r} is not 'up' or 'down'")
    phases = meta.get("phases")
    if phases is not None and (
        not isinstance(phases, list) or not all(isinstance(p, int) for p in phases)
    ):
        raise InvalidModelMetadata("model metadata 'phases' must be a list of phase ids or null")
    metrics = {k: meta.get(k) for k in TRAINING_METRIC_FIELDS if meta.get(k) is not None}
    for key in ("train_start", "train_end"):
        if key in metrics:
            metrics[key] = str(metrics[key])
    return {
        "model_name": name.strip(),
        "model_type": model_type,
        "target_variable": target_variable,
        "target_operator": operator,
        "target_value": meta.get("target_value"),
        "future_minutes": _first(meta.get("future_minutes"), tb.get("future_minutes")),
        "price_change_percent": _first(
            meta.get("price_change_percent"), tb.get("min_percent_change")
        ),
        "target_direction": direction,
        "features": features,
        "phases": phases,
        "params": meta.get("params") or {},
        "description": meta.get("description"),
        "training_metrics": metrics or None,
        "alert_threshold": default_threshold,
    }


class ModelManager:
    def __init__(
        self,
        pool: asyncpg.Pool,
        settings: Settings,
        registry: ModelRegistry,
        http: httpx.AsyncClient,
    ) -> None:
        self.pool = pool
        self.settings = settings
        self.registry = registry
        self.http = http
        self.models_dir = settings.models_dir
        self.max_bytes = settings.model_max_file_mb * 1024 * 1024
        self._import_locks: dict[int, asyncio.Lock] = {}

    # -- reads ------------------------------------------------------------------------
    async def list_available(self) -> tuple[list[dict[str, Any]], str | None]:
        async with self.pool.acquire() as conn:
            if not await models_repo.ml_models_exists(conn):
                return [], "table ml_models does not exist: no training-service models yet"
            rows = await models_repo.list_available(conn)
        for row in rows:
            row["already_imported"] = row["active_model_id"] is not None
        return rows, None

    async def list(self, *, include_inactive: bool) -> list[dict[str, Any]]:
        async with self.pool.acquire() as conn:
            return await models_repo.list_active_models(conn, include_inactive=include_inactive)

    async def get(self, active_id: int) -> dict[str, Any]:
        async with self.pool.acquire() as conn:
            row = await models_repo.get_active_model(conn, active_id)
        if row is None:
            raise NotFoundError(f"no imported model with id {active_id}")
        return row

    # -- import / upload --------------------------------------------------------------
    async def import_model(self, model_id: int) -> dict[str, Any]:
        lock = self._import_locks.setdefault(model_id, asyncio.Lock())
        async with lock:
            async with self.pool.acquire() as conn:
                existing = await models_repo.get_by_model_id(conn, model_id)
                if existing is not None:
                    raise ConflictError(
                        f"model {model_id} is already imported as active model {existing['id']}",
                        code="already_imported",
                        extra={"active_model_id": existing["id"]},
                    )
                if not await models_repo.ml_models_exists(conn):
                    raise NotFoundError(
                        "table ml_models does not exist: there are no training-service models"
                    )
                meta = await models_repo.get_ml_model(conn, model_id)
            if meta is None or meta.get("is_deleted"):
                state = "deleted" if meta else "unknown"
                raise NotFoundError(f"model {model_id} is {state} in ml_models")
            if meta.get("status") != "READY":
                raise ConflictError(
                    f"model {model_id} has status {meta.get('status')!r}; only READY models "
                    "can be imported",
                    code="model_not_ready",
                )
            values = metadata_values(meta, self.settings.default_alert_threshold)
            staged = await download_model_file(
                self.http,
                self.settings.training_service_api_url,
                model_id,
                self.models_dir,
                max_bytes=self.max_bytes,
            )
            url = f"{self.settings.training_service_api_url.rstrip('/')}/models/{model_id}/download"
            return await self._admit(model_id, values, staged, source="training_service", url=url)

    async def upload(self, data: bytes, meta: dict[str, Any]) -> dict[str, Any]:
        values = metadata_values(meta, self.settings.default_alert_threshold)
        staged = await asyncio.to_thread(
            stage_bytes, data, self.models_dir, max_bytes=self.max_bytes
        )
        async with self.pool.acquire() as conn:
            model_id = await models_repo.next_upload_model_id(conn)
        return await self._admit(model_id, values, staged, source="upload", url=None)

    async def _admit(
        self,
        model_id: int,
        values: dict[str, Any],
        staged: StagedFile,
        *,
        source: str,
        url: str | None,
    ) -> dict[str, Any]:
        """Verify the staged file, move it into place and insert the row — or leave nothing."""
        destination = final_path(self.models_dir, model_id, staged.sha256)
        try:
            loaded: LoadedModel = await asyncio.to_thread(
                load_model,
                values,
                staged.path,
                staged.sha256,
                use_onnx=self.settings.model_use_onnx,
            )
        except BaseException:
            staged.discard()
            raise
        place(staged, destination)
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                row = await models_repo.insert_active_model(
                    conn,
                    {
                        **values,
                        "model_id": model_id,
                        "local_model_path": str(destination),
                        "model_file_url": url,
                        "model_sha256": staged.sha256,
                        "model_file_size": staged.size,
                        "source": source,
                    },
                )
                await models_repo.notify_changed(conn, row["id"])
        except asyncpg.UniqueViolationError as exc:
            await self._remove_unreferenced(destination)
            raise ConflictError(
                f"model {model_id} was imported concurrently", code="already_imported"
            ) from exc
        except BaseException:
            await self._remove_unreferenced(destination)
            raise
        self.registry.cache.put((str(destination), staged.sha256), loaded)
        await self.registry.refresh()
        logger.info(
            "imported model %s as active model %s (%s, %s runtime, %d inputs)",
            model_id,
            row["id"],
            values["model_name"],
            loaded.runtime_name,
            len(loaded.input_columns),
        )
        return row

    async def _remove_unreferenced(self, path: Path) -> None:
        async with self.pool.acquire() as conn:
            used = await conn.fetchval(
                "SELECT count(*) FROM prediction_active_models WHERE local_model_path = $1",
                str(path),
            )
        if not used:
            await asyncio.to_thread(path.unlink, missing_ok=True)

    # -- changes ----------------------------------------------------------------------
    async def _change(self, active_id: int, op: Any, *args: Any) -> dict[str, Any]:
        async with self.pool.acquire() as conn, conn.transaction():
            row: dict[str, Any] | None = await op(conn, active_id, *args)
            if row is None:
                raise NotFoundError(f"no imported model with id {active_id}")
            await models_repo.notify_changed(conn, active_id)
        await self.registry.refresh()
        return row

    async def activate(self, active_id: int) -> dict[str, Any]:
        return await self._change(active_id, models_repo.set_active, True)

    async def deactivate(self, active_id: int) -> dict[str, Any]:
        return await self._change(active_id, models_repo.set_active, False)

    async def rename(self, active_id: int, name: str | None) -> dict[str, Any]:
        cleaned = name.strip() if name else None
        return await self._change(active_id, models_repo.rename, cleaned or None)

    async def set_alert_threshold(self, active_id: int, threshold: float) -> dict[str, Any]:
        return await self._change(active_id, models_repo.set_alert_threshold, threshold)

    async def delete(self, active_id: int) -> dict[str, Any]:
        row = await self._change(active_id, models_repo.delete)
        path = Path(row["local_model_path"])
        await self._remove_unreferenced(path)
        self.registry.cache.drop(str(path))
        return row
