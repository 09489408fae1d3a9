"""The running service: everything created at start-up and closed at shutdown.

Entry points (the API lifespan, the CLI) build one :class:`Service`; nothing here runs at
import time. Later capabilities (model registry, pipeline, webhooks) hang off this object.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
import httpx

from ml_prediction_service import __version__
from ml_prediction_service.alerts.sender import WebhookSender
from ml_prediction_service.config import Settings
from ml_prediction_service.db.pool import create_pool
from ml_prediction_service.db.schema import migrate
from ml_prediction_service.evaluation.evaluator import Evaluator
from ml_prediction_service.evaluation.quality import QualityMonitor
from ml_prediction_service.evaluation.replays import ReplayManager
from ml_prediction_service.models.manager import ModelManager
from ml_prediction_service.models.registry import ModelRegistry, settle_heap
from ml_prediction_service.observability.health import (
    UNPREDICTED_WINDOW_SECONDS,
    FailedModel,
    HealthMonitor,
    HealthReport,
    verdict,
)
from ml_prediction_service.observability.metrics import Metrics
from ml_prediction_service.pipeline.listener import WakeupListener
from ml_prediction_service.pipeline.manual import ManualResult, predict_coin
from ml_prediction_service.pipeline.poller import MetricsPoller
from ml_prediction_service.pipeline.trigger import TriggerKeeper
from ml_prediction_service.pipeline.wakeup import Broadcast
from ml_prediction_service.pipeline.worker import PredictionWorker
from ml_prediction_service.retention.keeper import PartitionKeeper
from ml_prediction_service.tasks import cancel_all, supervise

logger = logging.getLogger(__name__)


@dataclass
class Service:
    settings: Settings
    dsn: str
    pool: asyncpg.Pool
    metrics: Metrics
    monitor: HealthMonitor
    trigger: TriggerKeeper
    http: httpx.AsyncClient
    registry: ModelRegistry
    models: ModelManager
    wakeup: Broadcast
    listener: WakeupListener
    workers: list[PredictionWorker]
    poller: MetricsPoller
    webhooks: WebhookSender
    predict_slots: asyncio.Semaphore
    quality: QualityMonitor
    partitions: PartitionKeeper
    evaluator: Evaluator
    replays: ReplayManager
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    async def start(cls, settings: Settings, dsn: str) -> Service:
        metrics = Metrics()
        pool = await create_pool(
            dsn,
            min_size=settings.db_pool_min_size,
            max_size=max(settings.db_pool_max_size, settings.db_pool_min_size),
            connect_timeout=settings.db_connect_timeout_seconds,
        )
        try:
            async with pool.acquire() as conn:
                await migrate(
                    conn,
                    partition_interval=settings.partition_interval,
                    partitions_ahead=settings.partitions_ahead,
                )
            health = HealthMonitor(pool, metrics, interval=settings.health_check_interval_seconds)
            await health.check_once(deadline_seconds=10)
            trigger = TriggerKeeper(pool, interval=settings.health_check_interval_seconds)
            await trigger.check_once(deadline_seconds=10)
        except BaseException:
            await pool.close()
            raise
        http = httpx.AsyncClient(
            timeout=httpx.Timeout(settings.model_download_timeout_seconds, connect=5.0),
            follow_redirects=True,
        )
        registry = ModelRegistry(
            pool,
            metrics,
            cache_size=settings.model_cache_size,
            refresh_interval=settings.model_refresh_interval_seconds,
            use_onnx=settings.model_use_onnx,
        )
        try:
            await registry.refresh()
        except BaseException:
            await http.aclose()
            await pool.close()
            raise
        wakeup = Broadcast()
        webhook_wakeup = asyncio.Event()
        service = cls(
            settings=settings,
            dsn=dsn,
            pool=pool,
            metrics=metrics,
            monitor=health,
            trigger=trigger,
            http=http,
            registry=registry,
            models=ModelManager(pool, settings, registry, http),
            wakeup=wakeup,
            predict_slots=asyncio.Semaphore(settings.max_concurrent_predictions),
            listener=WakeupListener(dsn, wakeup, metrics),
            workers=[
                PredictionWorker(
                    pool,
                    settings,
                    registry,
                    metrics,
                    wakeup.subscribe(),
                    webhook_wakeup,
                    partition=k,
                    partitions=settings.pipeline_workers,
                )
                for k in range(settings.pipeline_workers)
            ],
            poller=MetricsPoller(
                pool,
                trigger,
                wakeup,
                interval=settings.wakeup_interval_seconds,
                start_lookback_seconds=settings.max_event_age_seconds,
            ),
            webhooks=WebhookSender(pool, settings, metrics, webhook_wakeup),
            quality=QualityMonitor(
                pool,
                metrics,
                floor=settings.alert_precision_floor,
                min_alerts=settings.alert_precision_min_alerts,
            ),
            partitions=PartitionKeeper(pool, settings, metrics),
            evaluator=Evaluator(
                pool,
                settings,
                metrics,
                lambda: {i: m.record for i, m in registry.models.items()},
                webhook_wakeup,
            ),
            replays=ReplayManager(pool, dsn, settings, registry),
        )
        try:
            await service.replays.recover()
        except BaseException:
            await http.aclose()
            await pool.close()
            raise
        metrics.coins_tracked.set_function(lambda: service.coins_cached)
        metrics.coin_cache_bytes.set_function(lambda: service.coin_cache_bytes)
        service.tasks.append(supervise("health-monitor", health.run, metrics))
        service.tasks.append(supervise("trigger-keeper", trigger.run, metrics))
        service.tasks.append(supervise("model-registry", lambda: registry.run(dsn), metrics))
        service.tasks.append(supervise("quality-monitor", service.quality.run, metrics))
        service.tasks.append(supervise("partition-keeper", service.partitions.run, metrics))
        if settings.evaluation_enabled:
            service.tasks.append(supervise("evaluator", service.evaluator.run, metrics))
        if settings.pipeline_enabled:
            service.tasks.append(supervise("notify-listener", service.listener.run, metrics))
            for k, worker in enumerate(service.workers):
                service.tasks.append(supervise(f"prediction-worker-{k}", worker.run, metrics))
            service.tasks.append(supervise("metrics-poller", service.poller.run, metrics))
            service.tasks.append(supervise("webhook-sender", service.webhooks.run, metrics))
        settle_heap()
        logger.info("ml-prediction-service %s started", __version__)
        return service

    # -- what the API asks (routers translate; the work is here) ---------------------------
    async def health(self) -> HealthReport:
        """The health verdict from what each part reports. The database state is the
        monitor's last probe, or a fresh one when the listener lost its connection (a lost
        database shows there first)."""
        suspicious = self.settings.pipeline_enabled and not self.listener.connected
        interval = self.settings.health_check_interval_seconds
        db = await self.monitor.current(max_age=0.0 if suspicious else interval)
        failed = self.registry.failed()
        # the monitor's last run, without models deactivated since (the registry knows first)
        below_floor = [b for b in self.quality.below_floor if b.id in self.registry.models]
        reasons = verdict(
            db=db,
            trigger_installed=self.trigger.status.installed,
            trigger_reason=self.trigger.status.reason,
            pipeline_enabled=self.settings.pipeline_enabled,
            listener_connected=self.listener.connected,
            failing_models=[(m.id, m.name, m.error or m.batch_error or "") for m in failed],
            oldest_webhook_seconds=self.webhooks.oldest_pending_seconds
            if self.settings.pipeline_enabled
            else 0.0,
            webhook_limit_seconds=self.settings.webhook_health_max_pending_seconds,
            unpredicted_recently=self.unpredicted_recently,
            below_precision_floor=below_floor,
        )
        return HealthReport(
            status="healthy" if not reasons else "degraded",
            reasons=reasons,
            db=db,
            trigger=self.trigger.status,
            active_models=len(self.registry.models),
            uptime_seconds=int(self.monitor.uptime_seconds),
            listener_connected=self.listener.connected,
            polling=self.poller.active,
            events_processed=self.events_processed,
            batches=sum(w.stats.batches for w in self.workers),
            coins_cached=self.coins_cached,
            failed=[
                FailedModel(m.id, m.name, m.error or m.batch_error or "", m.loaded is not None)
                for m in failed
            ],
            below_precision_floor=below_floor,
        )

    async def predict(
        self, coin_id: str, *, model_ids: list[int] | None, at: datetime | None
    ) -> ManualResult:
        """``POST /api/predict``: one coin now (or as of ``at``), not stored; at most
        ``MAX_CONCURRENT_PREDICTIONS`` at a time."""
        async with self.predict_slots:
            return await predict_coin(
                self.pool,
                self.registry,
                coin_id,
                model_ids=model_ids,
                at=at,
                min_history_rows=self.settings.min_history_rows,
                alert_reasons=self.settings.alert_reasons,
                exact_reasons=self.settings.alert_reasons_method == "shap",
            )

    async def webhook_test(self, active_id: int) -> dict[str, Any]:
        """Send a sample payload for a model now and report the receiver's answer."""
        return await self.webhooks.send_test(await self.models.get(active_id))

    @property
    def events_processed(self) -> int:
        return sum(w.stats.events for w in self.workers)

    @property
    def unpredicted_recently(self) -> int:
        """Events consumed without any active model, if the last such batch is recent and
        still no model is active (0 otherwise)."""
        if self.registry.active():
            return 0
        now = time.monotonic()
        recent = [
            w.stats
            for w in self.workers
            if w.stats.unpredicted_at is not None
            and now - w.stats.unpredicted_at < UNPREDICTED_WINDOW_SECONDS
        ]
        return sum(s.unpredicted for s in recent)

    @property
    def coins_cached(self) -> int:
        return sum(len(w.cache) for w in self.workers)

    @property
    def coin_cache_bytes(self) -> int:
        return sum(w.cache.nbytes for w in self.workers)

    async def stop(self) -> None:
        await self.replays.stop()  # each ends 'cancelled'
        await cancel_all(self.tasks)
        self.tasks.clear()
        for worker in self.workers:
            worker.close()
        await self.webhooks.close()
        await self.http.aclose()
        try:
            await asyncio.wait_for(self.pool.close(), timeout=10)
        except TimeoutError:
            self.pool.terminate()
        logger.info("ml-prediction-service stopped")
