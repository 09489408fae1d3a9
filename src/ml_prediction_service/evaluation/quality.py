"""The quality monitor: live alert precision of each active model over its last N evaluated
alerts (``ALERT_PRECISION_MIN_ALERTS``), the one writer of ``ml_model_alert_precision`` and
``ml_model_alert_precision_alerts``, and which models fall below ``ALERT_PRECISION_FLOOR``
(health reads :attr:`QualityMonitor.below_floor`). Runs as the supervised task
``quality-monitor`` (service.py)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import asyncpg

from ml_prediction_service.db import statistics_repo
from ml_prediction_service.db.pool import DB_ERRORS
from ml_prediction_service.observability.health import PrecisionBelowFloor
from ml_prediction_service.observability.metrics import Metrics

logger = logging.getLogger(__name__)

QUALITY_INTERVAL_SECONDS = 30.0


@dataclass(frozen=True)
class AlertPrecision:
    """An active model's precision over its last ``alerts`` evaluated alerts."""

    active_model_id: int
    model_id: int
    name: str
    alerts: int
    alerts_true: int

    @property
    def precision(self) -> float | None:
        return self.alerts_true / self.alerts if self.alerts else None


class QualityMonitor:
    """Every ``interval`` seconds: one query for all active models (their last
    ``min_alerts`` evaluated alerts each), then the gauges and the below-floor list."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        metrics: Metrics,
        *,
        floor: float,
        min_alerts: int,
        interval: float = QUALITY_INTERVAL_SECONDS,
    ) -> None:
        self.pool = pool
        self.metrics = metrics
        self.floor = floor
        self.min_alerts = min_alerts
        self.interval = interval
        self.precisions: list[AlertPrecision] = []
        self.below_floor: list[PrecisionBelowFloor] = []
        self._failing = False

    async def check_once(self) -> list[AlertPrecision]:
        rows = await statistics_repo.recent_alert_precision(self.pool, self.min_alerts)
        found = [
            AlertPrecision(
                active_model_id=int(r["id"]),
                model_id=int(r["model_id"]),
                name=str(r["name"]),
                alerts=int(r["alerts"]),
                alerts_true=int(r["alerts_true"]),
            )
            for r in rows
        ]
        self._publish(found)
        return found

    def _publish(self, found: list[AlertPrecision]) -> None:
        # no await in here: a scrape never sees the gauges half rewritten
        gauge, count = self.metrics.model_alert_precision, self.metrics.model_alert_precision_alerts
        gauge.clear()  # models deactivated, deleted or renamed since: their series go
        count.clear()
        for p in found:
            if p.precision is None:
                continue  # no evaluated alert yet: no series
            labels = {"model_id": str(p.model_id), "model_name": p.name}
            gauge.labels(**labels).set(p.precision)
            count.labels(**labels).set(p.alerts)
        below = []
        if self.floor > 0:
            below = [
                PrecisionBelowFloor(p.active_model_id, p.name, p.precision, p.alerts, self.floor)
                for p in found
                if p.precision is not None
                and p.alerts >= self.min_alerts
                and p.precision < self.floor
            ]
        now = {b.id: b for b in below}
        before = {b.id: b for b in self.below_floor}
        for b in below:
            if b.id not in before:
                logger.warning("live model quality: %s", b.reason)
        current = {p.active_model_id: p for p in found}
        for active_id, b in before.items():
            if active_id not in now:
                logger.info(
                    "live model quality: model %s (%s) no longer below ALERT_PRECISION_FLOOR "
                    "%g (%s)",
                    active_id,
                    b.name,
                    self.floor,
                    _describe(current.get(active_id)),
                )
        self.precisions = found
        self.below_floor = below

    async def run(self) -> None:
        while True:
            try:
                await self.check_once()
            except DB_ERRORS as exc:
                # health reports a lost database (its own probe); the last figures stay
                if not self._failing:
                    logger.warning("quality monitor cannot read evaluations: %s", exc)
                self._failing = True
            else:
                if self._failing:
                    logger.info("quality monitor reads evaluations again")
                self._failing = False
            await asyncio.sleep(self.interval)


def _describe(p: AlertPrecision | None) -> str:
    if p is None:
        return "no longer active"
    if p.precision is None:
        return "no evaluated alerts"
    return f"precision {p.precision:.3f} over its last {p.alerts} evaluated alerts"
