"""The live set of active models, kept loaded and current in every replica.

Changes made through the API commit a NOTIFY on ``prediction_models_changed``; every
replica listens on a dedicated connection and also refreshes on a timer, so a change takes
effect without restart (in the replica that made it: immediately). Loaded models are cached
by (path, sha256) in an LRU of ``MODEL_CACHE_SIZE``: a replaced file has a new hash and is
loaded anew; reload = load new, swap, drop old; a failed load keeps the error visible and
the other models serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from ml_prediction_service.db import models_repo
from ml_prediction_service.db.pool import connect
from ml_prediction_service.errors import ServiceError
from ml_prediction_service.models.files import sha256_of
from ml_prediction_service.models.loaded import LoadedModel, display_name, load_model
from ml_prediction_service.observability.metrics import Metrics

logger = logging.getLogger(__name__)

CacheKey = tuple[str, str]  # (path, sha256)


@dataclass
class ActiveModel:
    """One active model as the pipeline sees it (metadata + loaded model or error)."""

    meta: dict[str, Any]
    loaded: LoadedModel | None = None
    error: str | None = None
    file_stat: tuple[int, int] | None = None  # (mtime_ns, size) when hashed

    @property
    def id(self) -> int:
        return int(self.meta["id"])

    @property
    def name(self) -> str:
        return display_name(self.meta)

    @property
    def alert_threshold(self) -> float:
        value = self.meta.get("alert_threshold")
        return float(value) if value is not None else 0.7

    @property
    def phases(self) -> list[int] | None:
        phases = self.meta.get("phases")
        return [int(p) for p in phases] if phases else None


@dataclass
class ModelCache:
    capacity: int
    items: OrderedDict[CacheKey, LoadedModel] = field(default_factory=OrderedDict)

    def get(self, key: CacheKey) -> LoadedModel | None:
        model = self.items.get(key)
        if model is not None:
            self.items.move_to_end(key)
        return model

    def put(self, key: CacheKey, model: LoadedModel) -> None:
        self.items[key] = model
        self.items.move_to_end(key)
        while len(self.items) > self.capacity:
            evicted, _ = self.items.popitem(last=False)
            logger.info("model cache full (%d): evicted %s", self.capacity, evicted[0])

    def drop(self, path: str) -> None:
        for key in [k for k in self.items if k[0] == path]:
            del self.items[key]


def _file_stat(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


# Columns the pipeline itself keeps moving: a change in them is not a change of the model.
COUNTER_COLUMNS = frozenset({"total_predictions", "last_prediction_at"})


def _settings_of(meta: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in meta.items() if k not in COUNTER_COLUMNS}


def settle_heap() -> None:
    """Collect once, then move every object alive now (libraries, loaded models) out of the
    garbage collector's sight: later full collections scan only newer objects, so they no
    longer pause the pipeline for ~100 ms. Called at start and when the models change (a
    replaced model's objects are freed by the collect first)."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


class ModelRegistry:
    def __init__(
        self,
        pool: asyncpg.Pool,
        metrics: Metrics,
        *,
        cache_size: int = 10,
        refresh_interval: float = 10.0,
        use_onnx: bool = True,
    ) -> None:
        self.pool = pool
        self.metrics = metrics
        self.cache = ModelCache(cache_size)
        self.refresh_interval = refresh_interval
        self.use_onnx = use_onnx
        self.models: dict[int, ActiveModel] = {}
        self._lock = asyncio.Lock()
        self._wakeup = asyncio.Event()
        self.version = 0  # bumped whenever the active set or a model changes

    # -- queries ----------------------------------------------------------------------
    def active(self) -> list[ActiveModel]:
        """Active models that are loaded and servable, by id."""
        return [m for _, m in sorted(self.models.items()) if m.loaded is not None]

    def failed(self) -> list[ActiveModel]:
        return [m for _, m in sorted(self.models.items()) if m.error is not None]

    def runtime_info(self, active_id: int, *, is_active: bool = True) -> dict[str, Any]:
        """Runtime status for the API: loaded / error / loading / inactive."""
        model = self.models.get(active_id) if is_active else None
        if model is None:
            return {
                "status": "inactive",
                "runtime": None,
                "error": None,
                "note": None,
                "input_features": None,
            }
        if model.loaded is not None:
            return {
                "status": "loaded",
                "runtime": model.loaded.runtime_name,
                "error": None,
                "note": model.loaded.runtime_note,
                "input_features": len(model.loaded.input_columns),
            }
        return {
            "status": "error" if model.error else "loading",
            "runtime": None,
            "error": model.error,
            "note": None,
            "input_features": None,
        }

    # -- refresh ----------------------------------------------------------------------
    def request_refresh(self) -> None:
        self._wakeup.set()

    async def refresh(self) -> None:
        """Bring the in-memory set in line with the database."""
        async with self._lock:
            async with self.pool.acquire() as conn:
                rows = await models_repo.list_active_models(conn)
            seen: set[int] = set()
            changed = False
            for row in rows:
                seen.add(int(row["id"]))
                changed |= await self._sync_one(row)
            for gone in set(self.models) - seen:
                logger.info("model %s (%s) no longer active", gone, self.models[gone].name)
                del self.models[gone]
                changed = True
            if changed:
                self.version += 1
                settle_heap()
            self.metrics.active_models.set(len(rows))
            self.metrics.models_loaded.set(len(self.cache.items))

    async def _sync_one(self, row: dict[str, Any]) -> bool:
        active_id = int(row["id"])
        current = self.models.get(active_id)
        path = Path(row["local_model_path"])
        stat = _file_stat(path)
        if (
            current is not None
            and _settings_of(current.meta) == _settings_of(row)
            and current.file_stat == stat
            and (current.loaded is not None or current.error is not None)
        ):
            current.meta = row  # only the counters moved: keep serving what we have
            return False
        sha = str(row.get("model_sha256") or "")
        if stat is not None and (current is None or current.file_stat != stat or not sha):
            on_disk = await asyncio.to_thread(sha256_of, path)
            if sha and on_disk != sha:
                logger.warning(
                    "model %s: file %s was replaced (sha256 %s… → %s…)",
                    active_id,
                    path,
                    sha[:12],
                    on_disk[:12],
                )
            sha = on_disk
        key: CacheKey = (str(path), sha)
        loaded = self.cache.get(key)
        error: str | None = None
        if loaded is None:
            if stat is None:
                error = f"model file {path} does not exist"
                loaded = None
            else:
                try:
                    with self.metrics.model_load_duration_seconds.time():
                        loaded = await asyncio.to_thread(
                            load_model, row, path, sha, use_onnx=self.use_onnx
                        )
                    self.cache.put(key, loaded)
                except ServiceError as exc:
                    error, loaded = exc.message, None
                except Exception as exc:
                    error, loaded = f"{type(exc).__name__}: {exc}", None
        if error is not None:
            self.metrics.errors_total.labels(type="model_load").inc()
            logger.error("model %s (%s) cannot be served: %s", active_id, display_name(row), error)
            if current is not None and current.loaded is not None:
                # a failed reload keeps the old model serving; the error stays visible
                current.meta, current.error, current.file_stat = row, error, stat
                return True
        elif current is None or current.loaded is not loaded:
            logger.info(
                "model %s (%s) ready: %s runtime, %d inputs",
                active_id,
                display_name(row),
                loaded.runtime_name if loaded else "?",
                len(loaded.input_columns) if loaded else 0,
            )
        self.models[active_id] = ActiveModel(meta=row, loaded=loaded, error=error, file_stat=stat)
        return True

    # -- background -------------------------------------------------------------------
    async def run(self, dsn: str) -> None:
        """Listen for model changes (dedicated connection) and refresh on a timer too."""
        conn = await connect(dsn)
        lost = asyncio.Event()

        def on_change(*_: object) -> None:
            self._wakeup.set()

        def on_lost(*_: object) -> None:
            lost.set()
            self._wakeup.set()

        conn.add_termination_listener(on_lost)
        await conn.add_listener(models_repo.MODELS_CHANGED_CHANNEL, on_change)
        try:
            await self.refresh()
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), self.refresh_interval)
                self._wakeup.clear()
                if lost.is_set() or conn.is_closed():
                    raise ConnectionError("model-change listener connection lost")
                await self.refresh()
        finally:
            if not conn.is_closed():
                await conn.close()
