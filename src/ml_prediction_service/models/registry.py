"""The live set of active models, kept loaded and current in every replica.

Changes made through the API commit a NOTIFY on ``prediction_models_changed``; every
replica listens on a dedicated connection and also refreshes on a timer, so a change takes
effect without restart (in the replica that made it: immediately). Loaded models are cached
by (path, recorded sha256) in an LRU of ``MODEL_CACHE_SIZE``. A file whose hash is not the
one recorded at import is never loaded: the verified copy in memory (if any) keeps serving and
the model is reported failed until it is re-imported. A failed load keeps the error visible
and the other models serving; a model whose last batch failed is reported failed until a
batch succeeds again.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from ml_prediction_service.db import models_repo
from ml_prediction_service.db.listen import listening
from ml_prediction_service.db.models_repo import MODELS_CHANGED_CHANNEL
from ml_prediction_service.errors import ServiceError
from ml_prediction_service.models.files import sha256_of
from ml_prediction_service.models.loaded import LoadedModel, load_model
from ml_prediction_service.models.metadata import ActiveModelRecord, ModelSpec
from ml_prediction_service.observability.metrics import Metrics

logger = logging.getLogger(__name__)

CacheKey = tuple[str, str]  # (path, sha256)


@dataclass
class ActiveModel:
    """One active model as the pipeline sees it (its row + loaded model or error)."""

    record: ActiveModelRecord
    loaded: LoadedModel | None = None
    error: str | None = None  # why it cannot be (re)loaded, or why its file is not trusted
    file_stat: tuple[int, int] | None = None  # (mtime_ns, size) when hashed
    batch_error: str | None = None  # why its last batch failed (None: it succeeded)

    @property
    def id(self) -> int:
        return self.record.id

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def alert_threshold(self) -> float:
        return self.record.alert_threshold

    @property
    def phases(self) -> tuple[int, ...] | None:
        return self.record.phases


@dataclass(frozen=True)
class RuntimeInfo:
    """How a model is served in this replica (the API's ``runtime`` object)."""

    status: str  # loaded / error / loading / inactive
    runtime: str | None = None
    error: str | None = None
    note: str | None = None
    input_features: int | None = None
    library: str | None = None
    library_version: str | None = None
    installed_version: str | None = None
    adjustments: list[str] = field(default_factory=list)
    probe_rows: int | None = None
    probe_max_diff: float | None = None


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
        """Models that cannot be loaded, whose file is missing or changed, or whose last batch
        failed."""
        return [
            m
            for _, m in sorted(self.models.items())
            if m.error is not None or m.batch_error is not None
        ]

    def record_batch(self, served: list[int], errors: dict[int, str]) -> None:
        """What the last batch did per model: a failure is reported until a batch succeeds."""
        for active_id, error in errors.items():
            model = self.models.get(active_id)
            if model is None:
                continue
            if model.batch_error is None:
                logger.error("model %s (%s) failed a batch: %s", active_id, model.name, error)
            model.batch_error = error
            self.metrics.model_batch_failures_total.labels(model_id=str(active_id)).inc()
        for active_id in served:
            model = self.models.get(active_id)
            if model is not None and model.batch_error is not None and active_id not in errors:
                logger.info("model %s (%s) serves again", active_id, model.name)
                model.batch_error = None
        self.metrics.models_failed.set(len(self.failed()))

    def runtime_info(self, active_id: int, *, is_active: bool = True) -> RuntimeInfo:
        """Runtime status for the API: loaded / error / loading / inactive, with the file's
        library and version and how the runtime was checked."""
        model = self.models.get(active_id) if is_active else None
        if model is None:
            return RuntimeInfo("inactive")
        error = model.error or model.batch_error
        loaded = model.loaded
        if loaded is None:
            return RuntimeInfo("error" if model.error else "loading", error=error)
        return RuntimeInfo(
            "loaded",
            runtime=loaded.runtime_name,
            error=error,
            note=loaded.runtime_note,
            input_features=len(loaded.input_columns),
            library=loaded.provenance.library,
            library_version=loaded.provenance.file_version,
            installed_version=loaded.provenance.installed_version,
            adjustments=list(loaded.provenance.adjustments),
            probe_rows=loaded.choice.probe_rows,
            probe_max_diff=loaded.choice.probe_max_diff,
        )

    async def load_file(
        self, spec: ModelSpec, path: Path, sha256: str, *, label: str | None = None
    ) -> LoadedModel:
        """Load and verify a model file in a thread: every load (start-up, refresh, import,
        upload, re-import) goes through here and is timed in ``ml_model_load_duration_seconds``
        (successful loads)."""
        started = time.perf_counter()
        loaded = await asyncio.to_thread(
            load_model, spec, path, sha256, use_onnx=self.use_onnx, label=label
        )
        self.metrics.model_load_duration_seconds.observe(time.perf_counter() - started)
        return loaded

    async def serving_copy(self, row: ActiveModelRecord) -> ActiveModel:
        """The model of ``row`` (active or not) as the pipeline serves it, for a replay: an
        active model's loaded copy, else its file loaded and verified against the hash
        recorded at import (through the cache, which it does not fill). ``ServiceError``
        (409) when the file is missing, changed or cannot be loaded."""
        current = self.models.get(row.id)
        if current is not None and current.loaded is not None:
            return ActiveModel(record=row, loaded=current.loaded)
        path = Path(row.local_model_path)
        if _file_stat(path) is None:
            raise ServiceError(
                f"model file {path} does not exist: re-import the model",
                code="model_not_loadable",
                status=409,
            )
        on_disk = await asyncio.to_thread(sha256_of, path)
        recorded = row.model_sha256 or on_disk
        if on_disk != recorded:
            raise ServiceError(
                f"model file {path} changed on disk: sha256 {on_disk[:12]}… is not the "
                f"{recorded[:12]}… recorded at import (re-import the model)",
                code="model_not_loadable",
                status=409,
            )
        loaded = self.cache.get((str(path), recorded))
        if loaded is None:
            try:
                loaded = await self.load_file(row.spec, path, recorded)
            except ServiceError as exc:
                raise ServiceError(
                    f"model {row.id} cannot be loaded: {exc.message}",
                    code="model_not_loadable",
                    status=409,
                ) from exc
        return ActiveModel(record=row, loaded=loaded)

    # -- refresh ----------------------------------------------------------------------
    async def refresh(self) -> None:
        """Bring the in-memory set in line with the database."""
        async with self._lock:
            async with self.pool.acquire() as conn:
                rows = await models_repo.list_active_models(conn)
            seen: set[int] = set()
            changed = False
            for row in rows:
                seen.add(row.id)
                changed |= await self._sync_one(row)
            for gone in set(self.models) - seen:
                logger.info("model %s (%s) no longer active", gone, self.models[gone].name)
                del self.models[gone]
                changed = True
            if changed:
                self.version += 1
                settle_heap()
            self.metrics.active_models.set(len(rows))
            # the active models that serve (each holds its loaded file; the LRU cache of
            # MODEL_CACHE_SIZE files only spares re-loading and can be smaller)
            self.metrics.models_loaded.set(sum(m.loaded is not None for m in self.models.values()))
            self.metrics.models_failed.set(len(self.failed()))

    async def _sync_one(self, row: ActiveModelRecord) -> bool:
        active_id = row.id
        current = self.models.get(active_id)
        path = Path(row.local_model_path)
        stat = _file_stat(path)
        if (
            current is not None
            and current.record.settings() == row.settings()
            and current.file_stat == stat
            and (current.loaded is not None or current.error is not None)
        ):
            current.record = row  # only the counters moved: keep serving what we have
            return False
        recorded = row.model_sha256 or ""
        problem: str | None = None
        if stat is None:
            problem = f"model file {path} does not exist"
        elif current is not None and current.file_stat == stat and current.error is not None:
            problem = current.error  # same file as last time: same verdict
        else:
            on_disk = await asyncio.to_thread(sha256_of, path)
            if not recorded:
                recorded = on_disk  # a row from before hashes were recorded: trust on first use
            elif on_disk != recorded:
                problem = (
                    f"model file {path} changed on disk: sha256 {on_disk[:12]}… is not the "
                    f"{recorded[:12]}… recorded at import; the file is not loaded "
                    "(re-import the model)"
                )
        loaded = self.cache.get((str(path), recorded))
        if loaded is None and current is not None and current.loaded is not None:
            # the verified copy in memory
            loaded = current.loaded if current.loaded.sha256 == recorded else None
        error = problem
        if loaded is None and problem is None:
            try:
                loaded = await self.load_file(row.spec, path, recorded)
                self.cache.put((str(path), recorded), loaded)
            except ServiceError as exc:
                error = exc.message
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
        if error is not None and (current is None or current.error != error):
            self.metrics.errors_total.labels(type="model_load").inc()
            serving = " (its verified copy in memory keeps serving)" if loaded else ""
            logger.error(
                "model %s (%s) cannot be loaded%s: %s",
                active_id,
                row.name,
                serving,
                error,
            )
        elif (
            loaded is not None
            and error is None
            and (current is None or current.loaded is not loaded)
        ):
            logger.info(
                "model %s (%s) ready: %s runtime, %d inputs, %s %s",
                active_id,
                row.name,
                loaded.runtime_name,
                len(loaded.input_columns),
                loaded.provenance.library,
                loaded.provenance.file_version,
            )
        self.models[active_id] = ActiveModel(
            record=row,
            loaded=loaded,
            error=error,
            file_stat=stat,
            batch_error=current.batch_error if current is not None else None,
        )
        return True

    # -- background -------------------------------------------------------------------
    async def run(self, dsn: str) -> None:
        """Listen for model changes (dedicated connection) and refresh on a timer too."""
        async with listening(dsn, MODELS_CHANGED_CHANNEL, lambda _: self._wakeup.set()) as ch:
            await self.refresh()  # whatever changed while we were not listening
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), self.refresh_interval)
                self._wakeup.clear()
                ch.raise_if_lost()
                await self.refresh()
