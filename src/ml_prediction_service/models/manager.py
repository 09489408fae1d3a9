"""Model management use cases (import, upload, activate, rename, re-threshold, delete).

The API routers are thin adapters over these functions. Every change commits a NOTIFY so
all replicas refresh, and refreshes this replica's registry right away.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import asyncpg
import httpx

from ml_prediction_service.config import Settings
from ml_prediction_service.db import models_repo, settings_repo
from ml_prediction_service.errors import ConflictError, NotFoundError, ServiceError
from ml_prediction_service.models.defaults import ModelDefaults
from ml_prediction_service.models.files import (
    StagedFile,
    download_model_file,
    final_path,
    place,
    stage_bytes,
)
from ml_prediction_service.models.loaded import LoadedModel
from ml_prediction_service.models.metadata import (
    ActiveModelRecord,
    AvailableModel,
    ModelSpec,
    available_model,
    parse_spec,
)
from ml_prediction_service.models.registry import ModelRegistry

logger = logging.getLogger(__name__)


class Readable(Protocol):
    async def read(self, size: int = -1) -> bytes: ...


class Unset:
    """Marks an argument that was not given (where None means something)."""


UNSET = Unset()


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
    async def defaults(self) -> ModelDefaults:
        """What a newly imported model starts with."""
        return await settings_repo.model_defaults(self.pool, self.settings.default_alert_threshold)

    async def list_available(self) -> tuple[list[AvailableModel], str | None]:
        async with self.pool.acquire() as conn:
            if not await models_repo.ml_models_exists(conn):
                return [], "table ml_models does not exist: no training-service models yet"
            rows = await models_repo.list_available(conn)
        return [available_model(row) for row in rows], None

    async def list(self, *, include_inactive: bool) -> list[ActiveModelRecord]:
        async with self.pool.acquire() as conn:
            return await models_repo.list_active_models(conn, include_inactive=include_inactive)

    async def get(self, active_id: int) -> ActiveModelRecord:
        async with self.pool.acquire() as conn:
            row = await models_repo.get_active_model(conn, active_id)
        if row is None:
            raise NotFoundError(f"no imported model with id {active_id}")
        return row

    # -- import / upload --------------------------------------------------------------
    async def import_model(self, model_id: int) -> ActiveModelRecord:
        lock = self._import_locks.setdefault(model_id, asyncio.Lock())
        async with lock:
            async with self.pool.acquire() as conn:
                existing = await models_repo.get_by_model_id(conn, model_id)
                if existing is not None:
                    raise ConflictError(
                        f"model {model_id} is already imported as active model "
                        f"{existing.id} (POST /api/models/{existing.id}/reimport fetches "
                        "its file again)",
                        code="already_imported",
                        extra={"active_model_id": existing.id},
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
            spec = parse_spec(meta)
            staged, url = await self._download(model_id)
            return await self._admit(model_id, spec, staged, source="training_service", url=url)

    async def upload(
        self, file: Readable, meta: dict[str, Any], filename: str | None = None
    ) -> ActiveModelRecord:
        """An uploaded file (``filename``: the client's name for it, used in messages) with
        its metadata; refused unless API_KEY is set (a model file is executable code)."""
        if not self.settings.api_key:
            raise ServiceError(
                "model uploads are disabled: a model file is executable code, so uploads need "
                "API_KEY to be set (then send it as X-API-Key)",
                code="uploads_disabled",
                status=403,
            )
        spec = parse_spec(meta)
        data = await file.read(self.max_bytes + 1)
        staged = await asyncio.to_thread(
            stage_bytes, data, self.models_dir, max_bytes=self.max_bytes, filename=filename
        )
        async with self.pool.acquire() as conn:
            model_id = await models_repo.next_upload_model_id(conn)
        return await self._admit(model_id, spec, staged, source="upload", url=None)

    async def _download(self, model_id: int) -> tuple[StagedFile, str]:
        """The model's file from the training service, staged; and the URL it came from."""
        base = self.settings.training_service_api_url
        staged = await download_model_file(
            self.http, base, model_id, self.models_dir, max_bytes=self.max_bytes
        )
        return staged, f"{base.rstrip('/')}/models/{model_id}/download"

    async def _verify_staged(self, spec: ModelSpec, staged: StagedFile) -> LoadedModel:
        """Load and verify the staged file (in a thread); a refused file is removed."""
        try:
            return await self.registry.load_file(
                spec, staged.path, staged.sha256, label=staged.label
            )
        except BaseException:
            staged.discard()
            raise

    async def _admit(
        self,
        model_id: int,
        spec: ModelSpec,
        staged: StagedFile,
        *,
        source: str,
        url: str | None,
    ) -> ActiveModelRecord:
        """Verify the staged file, move it into place and insert the row — or leave nothing."""
        destination = final_path(self.models_dir, model_id, staged.sha256)
        loaded = await self._verify_staged(spec, staged)
        place(staged, destination)
        # in the cache before the row commits: the commit's NOTIFY wakes the registry's own
        # refresh, which must find the verified copy instead of loading the file again
        self.registry.cache.put((str(destination), staged.sha256), loaded)
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                row = await models_repo.insert_active_model(
                    conn,
                    spec,
                    await self.defaults(),
                    model_id=model_id,
                    local_model_path=str(destination),
                    model_file_url=url,
                    model_sha256=staged.sha256,
                    model_file_size=staged.size,
                    source=source,
                    model_library=loaded.provenance.library,
                    model_library_version=loaded.provenance.file_version,
                )
                await models_repo.notify_changed(conn, row.id)
        except BaseException as exc:
            self.registry.cache.drop(str(destination))
            await self._remove_unreferenced(destination)
            if isinstance(exc, asyncpg.UniqueViolationError):
                raise ConflictError(
                    f"model {model_id} was imported concurrently", code="already_imported"
                ) from exc
            raise
        await self.registry.refresh()
        logger.info(
            "imported model %s as active model %s (%s, %s runtime, %d inputs, %s %s)",
            model_id,
            row.id,
            spec.name,
            loaded.runtime_name,
            len(loaded.input_columns),
            loaded.provenance.library,
            loaded.provenance.file_version,
        )
        return row

    async def reimport(self, active_id: int) -> ActiveModelRecord:
        """Download an imported model's file again (e.g. after its file on disk changed or
        disappeared), verify it like an import and serve it; the row keeps its settings."""
        row = await self.get(active_id)
        if row.source != "training_service":
            raise ConflictError(
                f"active model {active_id} was uploaded, not imported from the training "
                "service: delete it and upload its file again",
                code="not_reimportable",
            )
        model_id = row.model_id
        lock = self._import_locks.setdefault(model_id, asyncio.Lock())
        async with lock:
            staged, _ = await self._download(model_id)
            loaded = await self._verify_staged(row.spec, staged)
            old_path = Path(row.local_model_path)
            destination = final_path(self.models_dir, model_id, staged.sha256)
            place(staged, destination)
            # in the cache before the commit's NOTIFY wakes the registry (see _admit)
            self.registry.cache.put((str(destination), staged.sha256), loaded)
            try:
                updated = await self._replace_file(active_id, destination, staged, loaded)
            except BaseException:
                if old_path != destination:
                    self.registry.cache.drop(str(destination))
                raise
        if old_path != destination:
            await self._remove_unreferenced(old_path)
            self.registry.cache.drop(str(old_path))
        await self.registry.refresh()
        logger.info(
            "re-imported model %s (active model %s): sha256 %s…, %s runtime",
            model_id,
            active_id,
            staged.sha256[:12],
            loaded.runtime_name,
        )
        return updated

    async def _replace_file(
        self, active_id: int, destination: Path, staged: StagedFile, loaded: LoadedModel
    ) -> ActiveModelRecord:
        """Point an active model's row at its re-imported file and tell every replica."""
        async with self.pool.acquire() as conn, conn.transaction():
            updated = await models_repo.replace_file(
                conn,
                active_id,
                {
                    "local_model_path": str(destination),
                    "model_sha256": staged.sha256,
                    "model_file_size": staged.size,
                    "model_library": loaded.provenance.library,
                    "model_library_version": loaded.provenance.file_version,
                },
            )
            if updated is None:
                raise NotFoundError(f"no imported model with id {active_id}")
            await models_repo.notify_changed(conn, active_id)
        return updated

    async def _remove_unreferenced(self, path: Path) -> None:
        async with self.pool.acquire() as conn:
            used = await models_repo.count_using_file(conn, str(path))
        if not used:
            await asyncio.to_thread(path.unlink, missing_ok=True)

    # -- changes ----------------------------------------------------------------------
    async def _change(
        self,
        active_id: int,
        op: Callable[..., Awaitable[ActiveModelRecord | None]],
        *args: Any,
    ) -> ActiveModelRecord:
        async with self.pool.acquire() as conn, conn.transaction():
            row = await op(conn, active_id, *args)
            if row is None:
                raise NotFoundError(f"no imported model with id {active_id}")
            await models_repo.notify_changed(conn, active_id)
        await self.registry.refresh()
        return row

    async def activate(self, active_id: int) -> ActiveModelRecord:
        return await self._change(active_id, models_repo.set_active, True)

    async def deactivate(self, active_id: int) -> ActiveModelRecord:
        return await self._change(active_id, models_repo.set_active, False)

    async def rename(
        self, active_id: int, name: str | None, description: str | None = None
    ) -> ActiveModelRecord:
        """A new display name (blank: the model's own name) and, if given, a new description
        (blank: none)."""
        changes: dict[str, Any] = {"custom_name": (name or "").strip() or None}
        if description is not None:
            changes["description"] = description.strip() or None
        return await self._change(active_id, models_repo.rename, changes)

    async def set_alert_threshold(self, active_id: int, threshold: float) -> ActiveModelRecord:
        return await self._change(active_id, models_repo.set_alert_threshold, threshold)

    async def set_webhook(
        self,
        active_id: int,
        *,
        url: str | Unset | None = UNSET,
        enabled: bool | None = None,
        send_mode: Sequence[str] | None = None,
    ) -> ActiveModelRecord:
        """Webhook URL override (None: the default URL; UNSET: unchanged), enabled flag and
        send modes of a model (None: unchanged)."""
        changes: dict[str, Any] = {}
        if not isinstance(url, Unset):
            changes["webhook_url"] = url
        if enabled is not None:
            changes["webhook_enabled"] = enabled
        if send_mode is not None:
            changes["webhook_send_mode"] = sorted(set(send_mode))
        return await self._change(active_id, models_repo.set_webhook, changes)

    async def set_ignore_windows(
        self,
        active_id: int,
        *,
        alert: int | None = None,
        positive: int | None = None,
        negative: int | None = None,
    ) -> ActiveModelRecord:
        """Seconds (coin time) a model stays quiet about a coin after it sent a prediction
        with that tag (0: off; None: unchanged)."""
        changes = {
            f"ignore_{tag}_seconds": int(value)
            for tag, value in (("alert", alert), ("positive", positive), ("negative", negative))
            if value is not None
        }
        return await self._change(active_id, models_repo.update_columns, changes)

    async def set_coin_filter(
        self, active_id: int, mode: str, coins: Sequence[str]
    ) -> ActiveModelRecord:
        """``all``, or a ``whitelist``/``blacklist`` of mints: filtered coins are not
        predicted by this model."""
        unique = sorted({c.strip() for c in coins if c.strip()})
        return await self._change(
            active_id,
            models_repo.update_columns,
            {"coin_filter_mode": mode, "coin_filter": unique},
        )

    async def set_defaults(self, **changes: Any) -> ModelDefaults:
        """Change the stored defaults for newly imported models (given fields only)."""
        current = await self.defaults()
        if "webhook_send_mode" in changes:
            changes["webhook_send_mode"] = tuple(sorted(set(changes["webhook_send_mode"])))
        if "coin_filter" in changes:
            changes["coin_filter"] = tuple(sorted({c.strip() for c in changes["coin_filter"]}))
        updated = dataclasses.replace(current, **changes, stored=True)
        async with self.pool.acquire() as conn:
            await settings_repo.save_model_defaults(conn, updated)
        return updated

    async def delete(self, active_id: int) -> ActiveModelRecord:
        row = await self._change(active_id, models_repo.delete)
        path = Path(row.local_model_path)
        await self._remove_unreferenced(path)
        self.registry.cache.drop(str(path))
        return row
