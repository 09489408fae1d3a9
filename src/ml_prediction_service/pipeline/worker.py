"""The prediction worker: claims durable events, predicts them in batches, writes results.

One transaction per batch: claim events (``FOR UPDATE SKIP LOCKED``, deleted on commit),
read history (one query), compute features and predictions (worker thread), insert the
predictions (one statement, idempotent), bump the model counters, commit. A replica that
dies mid-batch rolls back and another replica (or this one after restart) takes the events.

A batch is cut at ``BATCH_SIZE`` events; the worker wakes on every notification and in any
case every ``BATCH_TIMEOUT_SECONDS``, so a lone event waits at most that long even if its
notification is lost. Under load, batches fill up while the previous one is processed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg

from ml_prediction_service.alerts.outbox import OutboxRow, outbox_rows
from ml_prediction_service.alerts.payload import OutgoingPrediction
from ml_prediction_service.config import Settings
from ml_prediction_service.db import events_repo, metrics_repo, predictions_repo, webhooks_repo
from ml_prediction_service.db.events_repo import Event
from ml_prediction_service.features import tail_depth
from ml_prediction_service.models.registry import ActiveModel, ModelRegistry
from ml_prediction_service.observability.metrics import Metrics
from ml_prediction_service.pipeline.history import (
    BatchInputs,
    HistoryCache,
    Snapshot,
    assemble,
    merge_inputs,
)
from ml_prediction_service.pipeline.predictor import BatchOutcome, predict_batch

logger = logging.getLogger(__name__)


def newest_per_coin(events: list[Event]) -> list[Snapshot]:
    """One coin = its newest snapshot in the batch."""
    newest: dict[str, Event] = {}
    for event in events:
        current = newest.get(event.mint)
        if current is None or event.data_timestamp > current.data_timestamp:
            newest[event.mint] = event
    return [Snapshot(e.mint, e.data_timestamp, e.phase_id, e.received_at) for e in newest.values()]


def required_depth(models: list[ActiveModel]) -> int:
    depth = 2
    for model in models:
        if model.loaded is not None:
            depth = max(depth, tail_depth(model.loaded.window_sizes))
    return depth


@dataclass
class WorkerStats:
    batches: int = 0
    events: int = 0
    stage_seconds: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))


class PredictionWorker:
    def __init__(
        self,
        pool: asyncpg.Pool,
        settings: Settings,
        registry: ModelRegistry,
        metrics: Metrics,
        wakeup: asyncio.Event,
        webhook_wakeup: asyncio.Event | None = None,
        *,
        partition: int = 0,
        partitions: int = 1,
    ) -> None:
        self.pool = pool
        self.settings = settings
        self.registry = registry
        self.metrics = metrics
        self.wakeup = wakeup
        self.webhook_wakeup = webhook_wakeup
        self.partition = partition
        self.partitions = partitions
        self.cache = HistoryCache(capacity=settings.coin_cache_size)
        self.stats = WorkerStats()
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="predict")

    async def run(self) -> None:
        interval = min(self.settings.batch_timeout_seconds, self.settings.polling_interval_seconds)
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wakeup.wait(), interval)
            self.wakeup.clear()
            while await self.process_once() >= self.settings.batch_size:
                pass  # a full batch: more may be waiting

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)

    async def process_once(self) -> int:
        """Claim and process one batch; returns the number of events claimed."""
        started = time.perf_counter()
        stage = self.stats.stage_seconds
        async with self.pool.acquire() as conn, conn.transaction():
            events = await events_repo.claim(
                conn, self.settings.batch_size, self.partition, self.partitions
            )
            if not events:
                return 0
            # Safe to skip the fsync wait: if the database loses this transaction in a crash,
            # it loses the event deletions with it, and the events are simply processed again.
            await conn.execute("SET LOCAL synchronous_commit = off")
            t_claim = time.perf_counter()
            stage["claim"] += t_claim - started
            models = self.registry.active()
            snapshots = newest_per_coin(events)
            inputs, outcome = await self._predict(conn, snapshots, models)
            t_predict = time.perf_counter()
            stage["history+features+predict"] += t_predict - t_claim
            stage["features"] += outcome.feature_seconds
            stage["models"] += outcome.predict_seconds
            elapsed_ms = int((t_predict - started) * 1000)
            rows = self._rows(inputs, outcome, elapsed_ms)
            t_rows = time.perf_counter()
            stage["build_rows"] += t_rows - t_predict
            deliveries: list[OutboxRow] = []
            if self._webhooks_wanted(models):
                inserted = await predictions_repo.insert_predictions(conn, rows)
                counts = dict(Counter(int(r["active_model_id"]) for r in inserted))
                deliveries = self._outbox(inputs, outcome, rows, inserted)
            else:
                counts = await predictions_repo.insert_predictions_counted(conn, rows)
            stage["insert"] += time.perf_counter() - t_rows
            await predictions_repo.bump_counters(conn, counts)
            await webhooks_repo.enqueue(conn, deliveries)
            t_write = time.perf_counter()
            stage["write"] += t_write - t_predict
        stage["commit"] += time.perf_counter() - t_write
        if deliveries and self.webhook_wakeup is not None:
            self.webhook_wakeup.set()
        self._account(events, snapshots, outcome, rows, sum(counts.values()), started)
        return len(events)

    def _webhooks_wanted(self, models: list[ActiveModel]) -> bool:
        default = self.settings.n8n_webhook_url
        return any(
            m.meta.get("webhook_enabled", True) and (m.meta.get("webhook_url") or default)
            for m in models
        )

    def _outbox(
        self,
        inputs: BatchInputs,
        outcome: BatchOutcome,
        rows: list[predictions_repo.NewPrediction],
        inserted: list[asyncpg.Record],
    ) -> list[OutboxRow]:
        """Webhooks for predictions that are new (not reprocessed) and fresh (not stale)."""
        new = {(r["coin_id"], r["data_timestamp"], r["active_model_id"]) for r in inserted}
        items = []
        for pred, row in zip(outcome.rows, rows, strict=True):
            key = (row.coin_id, row.data_timestamp, row.active_model_id)
            if row.is_stale or key not in new:
                continue
            items.append(
                (
                    row.coin_id,
                    row.data_timestamp,
                    OutgoingPrediction(
                        pred.model.meta,
                        pred.prediction,
                        pred.probability,
                        pred.is_alert,
                        pred.model.alert_threshold,
                    ),
                )
            )
        return outbox_rows(items, self.settings.n8n_webhook_url)

    async def _predict(
        self, conn: asyncpg.Connection, snapshots: list[Snapshot], models: list[ActiveModel]
    ) -> tuple[BatchInputs, BatchOutcome]:
        depth = required_depth(models)
        lower = [self.cache.lower_bound(s) for s in snapshots]
        inputs = await self._load(conn, snapshots, lower, depth)
        self.stats.stage_seconds["seeded_coins"] += sum(1 for lo in lower if lo is None)
        if inputs.needs_reseed:
            # cached state too short for the tail (e.g. a model with longer windows arrived):
            # read those coins in full and put them into the batch
            redo = inputs.needs_reseed
            self.stats.stage_seconds["reseeded_coins"] += len(redo)
            for i in redo:
                self.cache.drop(snapshots[i].mint)
            again = await self._load(conn, [snapshots[i] for i in redo], [None] * len(redo), depth)
            inputs = merge_inputs(inputs, again, redo)
        loop = asyncio.get_running_loop()
        outcome = await loop.run_in_executor(
            self.executor,
            lambda: predict_batch(inputs, models, min_history_rows=self.settings.min_history_rows),
        )
        return inputs, outcome

    async def _load(
        self,
        conn: asyncpg.Connection,
        snapshots: list[Snapshot],
        lower: list[int | None],
        depth: int,
    ) -> BatchInputs:
        lower_dt = [
            None if lo is None else datetime.fromtimestamp(lo / 1e9, tz=UTC) for lo in lower
        ]
        t0 = time.perf_counter()
        coin_index, ts, values = await metrics_repo.fetch_histories(
            conn, [s.mint for s in snapshots], lower_dt, [s.timestamp for s in snapshots]
        )
        t1 = time.perf_counter()
        self.stats.stage_seconds["history_query"] += t1 - t0
        self.stats.stage_seconds["history_rows"] += len(ts)
        self.stats.stage_seconds["history_calls"] += 1
        loop = asyncio.get_running_loop()
        inputs = await loop.run_in_executor(
            self.executor,
            lambda: assemble(self.cache, snapshots, lower, coin_index, ts, values, depth),
        )
        self.stats.stage_seconds["assemble"] += time.perf_counter() - t1
        return inputs

    def _rows(
        self, inputs: BatchInputs, outcome: BatchOutcome, elapsed_ms: int
    ) -> list[predictions_repo.NewPrediction]:
        now = datetime.now(UTC)
        max_age = self.settings.max_event_age_seconds
        rows = []
        for row in outcome.rows:
            snap = inputs.snapshots[row.coin]
            received = snap.received_at
            stale = received is not None and (now - received).total_seconds() > max_age
            meta = row.model.meta
            rows.append(
                predictions_repo.NewPrediction(
                    coin_id=snap.mint,
                    data_timestamp=snap.timestamp,
                    model_id=int(meta["model_id"]),
                    active_model_id=row.model.id,
                    prediction=row.prediction,
                    probability=row.probability,
                    phase_id=snap.phase_id,
                    duration_ms=elapsed_ms,
                    is_stale=stale,
                    is_alert=row.is_alert,
                    alert_threshold=row.model.alert_threshold,
                    event_received_at=received,
                )
            )
        return rows

    def _account(
        self,
        events: list[Event],
        snapshots: list[Snapshot],
        outcome: BatchOutcome,
        rows: list[predictions_repo.NewPrediction],
        inserted: int,
        started: float,
    ) -> None:
        m = self.metrics
        m.prediction_duration_seconds.observe(time.perf_counter() - started)
        m.feature_processing_duration_seconds.observe(outcome.feature_seconds)
        per_model = Counter(r.active_model_id for r in rows)
        alerts = Counter(r.active_model_id for r in rows if r.is_alert and not r.is_stale)
        names = {
            row.model.id: (str(row.model.meta["model_id"]), row.model.name) for row in outcome.rows
        }
        for active_id, count in per_model.items():
            model_id, name = names[active_id]
            m.predictions_total.labels(model_id=model_id, model_name=name).inc(count)
            m.predictions_by_model_total.labels(model_id=model_id, model_name=name).inc(count)
        for active_id, count in alerts.items():
            m.alerts_triggered_total.labels(model_id=names[active_id][0]).inc(count)
        for active_id, error in outcome.model_errors.items():
            m.errors_total.labels(type="prediction").inc()
            logger.debug("model %s error: %s", active_id, error)
        for skip in outcome.skips:
            m.predictions_skipped_total.labels(reason=skip.reason).inc()
        m.events_processed_total.inc(len(events))
        self.stats.batches += 1
        self.stats.events += len(events)
        if inserted < len(rows):
            logger.info("%d predictions already existed (reprocessed events)", len(rows) - inserted)
        now = datetime.now(UTC)
        for snap in snapshots:
            if snap.received_at is not None:
                m.event_latency_seconds.observe((now - snap.received_at).total_seconds())
