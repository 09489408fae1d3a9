"""Replays as the service and the CLI run them: checks, the replay's row and connection, the
background tasks (``evaluation/replay.py`` does the work).

Each replay runs on a dedicated connection (not one of the pool's) that holds the replay's
advisory lock from the moment its row exists; at start-up a process marks ``failed`` every
replay left pending/running by a process that is gone (``replays_repo.fail_orphans``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from ml_prediction_service.config import Settings
from ml_prediction_service.db import metrics_repo, models_repo, replays_repo
from ml_prediction_service.db.pool import connect
from ml_prediction_service.db.replays_repo import CoinPlan
from ml_prediction_service.errors import NotFoundError, ServiceError
from ml_prediction_service.evaluation.replay import ProgressCallback, ReplayConfig, run_replay
from ml_prediction_service.models.registry import ActiveModel, ModelRegistry
from ml_prediction_service.pipeline.worker import required_depth

logger = logging.getLogger(__name__)


def _invalid(message: str) -> ServiceError:
    return ServiceError(message, code="validation_error", status=422)


@dataclass
class Prepared:
    """A replay whose row exists (``pending``) and whose connection holds its lock."""

    replay: dict[str, Any]
    conn: asyncpg.Connection
    model: ActiveModel
    plan: CoinPlan
    config: ReplayConfig


class ReplayManager:
    def __init__(
        self, pool: asyncpg.Pool, dsn: str, settings: Settings, registry: ModelRegistry
    ) -> None:
        self.pool = pool
        self.dsn = dsn
        self.settings = settings
        self.registry = registry
        self.tasks: dict[int, asyncio.Task[None]] = {}
        self.executor = ThreadPoolExecutor(
            max_workers=settings.replay_max_concurrent, thread_name_prefix="replay"
        )
        self._starting = 0

    async def recover(self) -> list[int]:
        """Mark replays of processes that are gone as failed (at start-up)."""
        failed = await replays_repo.fail_orphans(self.pool)
        if failed:
            logger.warning(
                "replays %s were left unfinished by a process that stopped: marked failed",
                failed,
            )
        return failed

    async def prepare(
        self, active_model_id: int, start: datetime, end: datetime, max_rows: int | None
    ) -> Prepared:
        """Check the request, load the model, plan the coins, create the row (``pending``) on
        a dedicated connection holding its lock. 404 unknown model; 422 a bad range or
        ``max_rows``, or a range with more rows; 409 a model file that cannot be loaded."""
        limit = self.settings.replay_max_rows
        if max_rows is None:
            max_rows = limit
        if max_rows < 1 or max_rows > limit:
            raise _invalid(
                f"max_rows {max_rows} is outside 1..{limit} (REPLAY_MAX_ROWS): ask for fewer "
                "rows or raise REPLAY_MAX_ROWS"
            )
        if start.tzinfo is None or end.tzinfo is None:
            raise _invalid("start and end need a time zone (e.g. 2026-11-01T12:00:00Z)")
        if end <= start:
            raise _invalid(
                f"end {end.isoformat()} is not after start {start.isoformat()}: give a range "
                "with end > start"
            )
        record = await models_repo.get_active_model(self.pool, active_model_id)
        if record is None:
            raise NotFoundError(
                f"no imported model with id {active_model_id} (GET /api/models lists them)",
                code="model_not_found",
            )
        async with self.pool.acquire() as conn:
            if not await metrics_repo.table_exists(conn):
                raise NotFoundError("table coin_metrics does not exist", code="no_coin_metrics")
            plan = await replays_repo.plan(conn, start, end)
        if plan.total_rows > max_rows:
            raise _invalid(
                f"the range holds {plan.total_rows} coin_metrics rows of {len(plan.mints)} "
                f"coins, more than max_rows {max_rows}: replay a shorter range"
                + (" or raise max_rows" if max_rows < limit else "")
            )
        model = await self.registry.serving_copy(record)
        assert model.loaded is not None
        config = ReplayConfig(
            depth=max(required_depth([model]), self.settings.feature_history_size),
            min_history_rows=self.settings.min_history_rows,
            dead_coin_seconds=self.settings.evaluation_dead_coin_seconds,
            max_rows=max_rows,
            max_seconds=self.settings.replay_max_seconds,
        )
        conn = await connect(self.dsn, timeout=self.settings.db_connect_timeout_seconds)
        try:
            replay = await replays_repo.create_locked(
                conn,
                active_model_id=active_model_id,
                start=start,
                end=end,
                max_rows=max_rows,
                max_seconds=round(self.settings.replay_max_seconds),
                coins_total=len(plan.mints),
                rows_total=plan.total_rows,
            )
        except BaseException:
            await conn.close()
            raise
        return Prepared(replay, conn, model, plan, config)

    async def run(self, prepared: Prepared, on_progress: ProgressCallback | None = None) -> None:
        """Run a prepared replay to its end here (the CLI; the service's tasks); the
        connection is closed after (which also frees the lock)."""
        replay = prepared.replay
        try:
            await run_replay(
                prepared.conn,
                replay["id"],
                prepared.model,
                prepared.plan,
                replay["range_start"],
                replay["range_end"],
                prepared.config,
                self.executor,
                on_progress=on_progress,
            )
        except Exception as exc:  # the replay's own connection failed: record it another way
            logger.exception("replay %s failed", replay["id"])
            with contextlib.suppress(Exception):
                await replays_repo.finish(
                    self.pool, replay["id"], "failed", error=f"{type(exc).__name__}: {exc}"
                )
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(prepared.conn.close(timeout=5))

    async def start(
        self, active_model_id: int, start: datetime, end: datetime, max_rows: int | None
    ) -> dict[str, Any]:
        """``POST /api/models/{id}/replay``: prepare, then run as a background task; the
        replay's row. 429 while ``REPLAY_MAX_CONCURRENT`` replays run in this process."""
        limit = self.settings.replay_max_concurrent
        if len(self.tasks) + self._starting >= limit:
            raise ServiceError(
                f"{limit} replay(s) are running in this process (REPLAY_MAX_CONCURRENT): wait "
                f"for one to end (GET /api/replays/{{id}}: {sorted(self.tasks)})",
                code="replay_busy",
                status=429,
            )
        self._starting += 1
        try:
            prepared = await self.prepare(active_model_id, start, end, max_rows)
        finally:
            self._starting -= 1
        replay_id = int(prepared.replay["id"])
        task = asyncio.create_task(self.run(prepared), name=f"replay-{replay_id}")
        self.tasks[replay_id] = task
        task.add_done_callback(lambda _: self.tasks.pop(replay_id, None))
        return await self.get(replay_id)

    async def get(self, replay_id: int) -> dict[str, Any]:
        found = await replays_repo.get(self.pool, replay_id)
        if found is None:
            raise NotFoundError(f"no replay with id {replay_id}", code="replay_not_found")
        return found

    async def list_for_model(self, active_model_id: int, limit: int) -> list[dict[str, Any]]:
        if await models_repo.get_active_model(self.pool, active_model_id) is None:
            raise NotFoundError(
                f"no imported model with id {active_model_id}", code="model_not_found"
            )
        return await replays_repo.list_for_model(self.pool, active_model_id, limit)

    async def stop(self) -> None:
        """Cancel the running replays (each ends ``cancelled``) and wait for them."""
        tasks = list(self.tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.executor.shutdown(wait=False, cancel_futures=True)
