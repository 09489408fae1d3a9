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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import numpy as np

from ml_prediction_service.alerts import selection
from ml_prediction_service.alerts.outbox import outbox_rows
from ml_prediction_service.alerts.references import ModelObjects, StoredObjects
from ml_prediction_service.alerts.routing import target_url
from ml_prediction_service.config import Settings
from ml_prediction_service.db import events_repo, metrics_repo, predictions_repo, webhooks_repo
from ml_prediction_service.db.events_repo import Event
from ml_prediction_service.features import tail_depth
from ml_prediction_service.models.registry import ActiveModel, ModelRegistry
from ml_prediction_service.observability.metrics import Metrics
from ml_prediction_service.pipeline.history import (
    EPOCH,
    BatchInputs,
    HistoryStore,
    Snapshot,
    assemble,
)
from ml_prediction_service.pipeline.predictor import BatchOutcome, ModelResult, predict_batch

logger = logging.getLogger(__name__)


def newest_per_coin(events: list[Event]) -> list[Snapshot]:
    """One coin = its newest snapshot in the batch."""
    newest: dict[str, Event] = {}
    for event in events:
        current = newest.get(event.mint)
        if current is None or event.data_timestamp > current.data_timestamp:
            newest[event.mint] = event
    return [Snapshot(e.mint, e.data_timestamp, e.phase_id, e.received_at) for e in newest.values()]


# The stages of one batch, each observed in ml_pipeline_stage_seconds{stage}.
STAGES = (
    "claim",
    "history_query",
    "assemble",
    "features",
    "models",
    "reasons",
    "build_rows",
    "insert",
    "outbox",
    "write",
    "commit",
)


def _joined(parts: list[np.ndarray]) -> list[Any]:
    return np.concatenate(parts).tolist() if parts else []


def _offsets(results: list[ModelResult]) -> list[int]:
    """Where each result's predictions start in the batch's prediction arrays."""
    return np.cumsum([0] + [len(r.coins) for r in results[:-1]]).tolist() if results else []


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
    first_claim: float | None = None  # time.monotonic() of the first non-empty claim
    last_done: float = 0.0  # time.monotonic() when the last batch was committed
    unpredicted: int = 0  # events consumed while no model was active
    unpredicted_at: float | None = None  # time.monotonic() of the last such batch
    unpredicted_logged_at: float | None = None


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
        # COIN_CACHE_SIZE is for the whole process: each worker sees only its coin partition
        self.cache = HistoryStore(capacity=max(1, -(-settings.coin_cache_size // partitions)))
        self.stats = WorkerStats()
        stages = metrics.pipeline_stage_seconds
        self._stage = {name: stages.labels(stage=name) for name in STAGES}
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="predict")
        self.stored_objects = StoredObjects()

    async def run(self) -> None:
        interval = self.settings.wakeup_interval_seconds
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
        stage = self._stage
        async with self.pool.acquire() as conn, conn.transaction():
            events = await events_repo.claim(
                conn, self.settings.batch_size, self.partition, self.partitions
            )
            if not events:
                return 0
            if self.stats.first_claim is None:
                self.stats.first_claim = time.monotonic()
            await events_repo.no_fsync_wait(conn)
            t_claim = time.perf_counter()
            stage["claim"].observe(t_claim - started)
            models = self.registry.active()
            snapshots = newest_per_coin(events)
            inputs, outcome = await self._predict(conn, snapshots, models)
            t_predict = time.perf_counter()
            stage["features"].observe(outcome.feature_seconds)
            stage["models"].observe(outcome.predict_seconds - outcome.reasons_seconds)
            if outcome.reasons_seconds:
                stage["reasons"].observe(outcome.reasons_seconds)
            elapsed_ms = int((t_predict - started) * 1000)
            stale = self._stale(inputs.snapshots)
            cands = selection.candidates(
                outcome, inputs.snapshots, stale, self.settings.n8n_webhook_url
            )
            windowed = selection.windowed_keys(outcome, cands)
            last_sent = await webhooks_repo.window_marks(conn, windowed) if windowed else {}
            quiet = selection.suppressed(outcome, cands, last_sent)
            batch = self._batch(inputs, outcome, elapsed_ms, stale, quiet)
            t_rows = time.perf_counter()
            stage["build_rows"].observe(t_rows - t_predict)
            result = await predictions_repo.insert_batch(
                conn,
                batch,
                self._webhook_models(models),
                settle_seconds=self.settings.evaluation_settle_seconds,
            )
            stage["insert"].observe(time.perf_counter() - t_rows)
            t_outbox = time.perf_counter()
            sent = self._sent(outcome, cands, quiet, result.webhook_coins)
            objects = ModelObjects()
            deliveries = outbox_rows(
                [(c.mint, c.timestamp, selection.outgoing(outcome, c)) for c in sent],
                self.settings.n8n_webhook_url,
                objects,
            )
            superseded = await webhooks_repo.enqueue(
                conn, deliveries, self.stored_objects.unstored(objects)
            )
            marks = [
                (outcome.results[c.result].model.id, c.mint, c.tag, c.timestamp)
                for c in sent
                if c.window_seconds
            ]
            if marks:
                await webhooks_repo.mark_windows(conn, marks)
            stage["outbox"].observe(time.perf_counter() - t_outbox)
            # last: it locks the model rows that every worker's batch updates, so the lock
            # is held only until the commit
            await predictions_repo.bump_counters(conn, result.new_per_model)
            t_write = time.perf_counter()
            stage["write"].observe(t_write - t_predict)
        stage["commit"].observe(time.perf_counter() - t_write)
        if not models:  # after the commit: health counts only events that are gone
            self._no_models(len(events))
        self.stored_objects.committed(objects)
        if superseded:
            self.metrics.webhook_closed_total.labels(status="superseded").inc(superseded)
        if deliveries and self.webhook_wakeup is not None:
            self.webhook_wakeup.set()
        self._account(
            events, snapshots, outcome, batch, sum(result.new_per_model.values()), started
        )
        return len(events)

    def _no_models(self, count: int) -> None:
        """Events consumed with no model to run: counted for health, logged once a minute."""
        stats, now = self.stats, time.monotonic()
        stats.unpredicted += count
        stats.unpredicted_at = now
        if stats.unpredicted_logged_at is None or now - stats.unpredicted_logged_at >= 60:
            stats.unpredicted_logged_at = now
            logger.warning(
                "events arrive but no model is active: %d event(s) consumed without a "
                "prediction so far (import or activate a model)",
                stats.unpredicted,
            )

    def _webhook_models(self, models: list[ActiveModel]) -> list[int]:
        """Active models whose predictions may be sent (enabled, with a URL)."""
        default = self.settings.n8n_webhook_url
        return [m.id for m in models if target_url(m.record, default) is not None]

    @staticmethod
    def _sent(
        outcome: BatchOutcome,
        cands: list[selection.Candidate],
        quiet: set[tuple[int, int]],
        webhook_coins: dict[int, list[str]],
    ) -> list[selection.Candidate]:
        """Candidates whose rows are new (not reprocessed) and not suppressed."""
        if not webhook_coins:
            return []
        new = {model: set(coins) for model, coins in webhook_coins.items()}
        return [
            c
            for c in cands
            if c.key not in quiet and c.mint in new.get(outcome.results[c.result].model.id, ())
        ]

    def _stale(self, snapshots: list[Snapshot]) -> list[bool]:
        now = datetime.now(UTC)
        max_age = self.settings.max_event_age_seconds
        return [
            s.received_at is not None and (now - s.received_at).total_seconds() > max_age
            for s in snapshots
        ]

    async def _predict(
        self, conn: asyncpg.Connection, snapshots: list[Snapshot], models: list[ActiveModel]
    ) -> tuple[BatchInputs, BatchOutcome]:
        """History rows (one query), then history assembly, features and every model in one
        hop to the worker thread."""
        stage = self._stage
        self.cache.set_depth(max(required_depth(models), self.settings.feature_history_size))
        lower = [self.cache.lower_bound(s) for s in snapshots]
        self.metrics.history_coins_seeded_total.inc(sum(1 for lo in lower if lo is None))
        t0 = time.perf_counter()
        records = await metrics_repo.fetch_history_records(
            conn,
            [s.mint for s in snapshots],
            [None if lo is None else EPOCH + timedelta(microseconds=lo // 1000) for lo in lower],
            [s.timestamp for s in snapshots],
        )
        stage["history_query"].observe(time.perf_counter() - t0)
        self.metrics.history_rows_total.inc(len(records))

        def work() -> tuple[BatchInputs, BatchOutcome]:
            t1 = time.perf_counter()
            coin_index, ts, values = metrics_repo.history_arrays(records)
            inputs = assemble(self.cache, snapshots, lower, coin_index, ts, values)
            stage["assemble"].observe(time.perf_counter() - t1)
            outcome = predict_batch(
                inputs,
                models,
                min_history_rows=self.settings.min_history_rows,
                alert_reasons=self.settings.alert_reasons,
                exact_reasons=self.settings.alert_reasons_method == "shap",
            )
            return inputs, outcome

        return await asyncio.get_running_loop().run_in_executor(self.executor, work)

    def _batch(
        self,
        inputs: BatchInputs,
        outcome: BatchOutcome,
        elapsed_ms: int,
        stale: list[bool],
        quiet: set[tuple[int, int]],
    ) -> predictions_repo.PredictionBatch:
        snaps = inputs.snapshots
        results = outcome.results
        return predictions_repo.PredictionBatch(
            coin_ids=[s.mint for s in snaps],
            data_timestamps=[s.timestamp for s in snaps],
            phase_ids=[s.phase_id for s in snaps],
            received_at=[s.received_at for s in snaps],
            stale=stale,
            model_ids=[r.model.record.model_id for r in results],
            active_model_ids=[r.model.id for r in results],
            thresholds=[r.model.alert_threshold for r in results],
            coin=np.concatenate([r.coins for r in results]).tolist() if results else [],
            model=np.repeat(np.arange(len(results)), [len(r.coins) for r in results]).tolist(),
            probability=_joined([r.decisions.probability for r in results]),
            prediction=_joined([r.decisions.prediction for r in results]),
            is_alert=_joined([r.decisions.is_alert for r in results]),
            tag=_joined([r.decisions.tag_code for r in results]),
            reasons=[
                (offset + k, reasons)
                for offset, res in zip(_offsets(results), results, strict=True)
                for k, reasons in res.reasons.items()
            ],
            suppressed=[
                (r, k) in quiet for r, res in enumerate(results) for k in range(len(res.coins))
            ]
            if quiet
            else [False] * sum(len(res.coins) for res in results),
            duration_ms=elapsed_ms,
            horizons=[r.model.record.future_minutes for r in results]
            if self.settings.evaluation_enabled
            else [],
        )

    def _account(
        self,
        events: list[Event],
        snapshots: list[Snapshot],
        outcome: BatchOutcome,
        batch: predictions_repo.PredictionBatch,
        inserted: int,
        started: float,
    ) -> None:
        m = self.metrics
        m.prediction_duration_seconds.observe(time.perf_counter() - started)
        m.feature_processing_duration_seconds.observe(outcome.feature_seconds)
        stale = np.asarray(batch.stale, dtype=bool)
        for result in outcome.results:
            model_id, name = str(result.model.record.model_id), result.model.name
            count = len(result.coins)
            m.predictions_total.labels(model_id=model_id, model_name=name).inc(count)
            alerts = int(np.count_nonzero(result.alerts & ~stale[result.coins]))
            if alerts:
                m.alerts_triggered_total.labels(model_id=model_id).inc(alerts)
        for _ in outcome.model_errors:
            m.errors_total.labels(type="prediction").inc()
        for _ in outcome.explain_errors:
            m.errors_total.labels(type="alert_reasons").inc()
        self.registry.record_batch([r.model.id for r in outcome.results], outcome.model_errors)
        for skip in outcome.skips:
            m.predictions_skipped_total.labels(reason=skip.reason).inc()
        m.events_processed_total.inc(len(events))
        self.stats.batches += 1
        self.stats.events += len(events)
        self.stats.last_done = time.monotonic()
        if inserted < len(batch):
            logger.info(
                "%d predictions already existed (reprocessed events)", len(batch) - inserted
            )
        now = datetime.now(UTC)
        for snap in snapshots:
            if snap.received_at is not None:
                m.event_latency_seconds.observe((now - snap.received_at).total_seconds())
