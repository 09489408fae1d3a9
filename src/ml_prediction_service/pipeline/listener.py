"""The wake-up listener: a dedicated connection LISTENing on ``coin_metrics_insert``.

Notifications are hints (the event table is the truth): every notification — even a
malformed one, which is counted and logged — wakes the worker. The connection's liveness is
checked (termination callback + a periodic ping); on loss the task raises, the supervisor
reconnects it with backoff, and every (re)connect wakes the worker for a catch-up pass.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime

from ml_prediction_service.db.listen import listening
from ml_prediction_service.db.schema import NOTIFY_CHANNEL
from ml_prediction_service.observability.metrics import Metrics
from ml_prediction_service.pipeline.wakeup import Broadcast

logger = logging.getLogger(__name__)


def payload_problem(payload: str) -> str | None:
    """Why a notification payload breaks the contract, or None if it is fine."""
    try:
        data = json.loads(payload)
    except ValueError:
        return "not JSON"
    if not isinstance(data, dict):
        return "not a JSON object"
    if not isinstance(data.get("mint"), str) or not data["mint"]:
        return "mint missing or not a string"
    ts = data.get("timestamp")
    if not isinstance(ts, str):
        return "timestamp missing or not a string"
    try:
        datetime.fromisoformat(ts)
    except ValueError:
        return f"timestamp {ts!r} is not ISO 8601"
    phase = data.get("phase_id")
    if phase is not None and (not isinstance(phase, int) or isinstance(phase, bool)):
        return "phase_id is not an integer or null"
    return None


class WakeupListener:
    def __init__(
        self, dsn: str, wakeup: Broadcast, metrics: Metrics, *, ping_interval: float = 5.0
    ) -> None:
        self.dsn = dsn
        self.wakeup = wakeup
        self.metrics = metrics
        self.ping_interval = ping_interval
        self.connected = False
        self.malformed = 0

    def _on_payload(self, payload: str) -> None:
        problem = payload_problem(payload)
        if problem is not None:
            self.malformed += 1
            self.metrics.errors_total.labels(type="notify_payload").inc()
            logger.warning(
                "malformed %s notification (%s): %.200s", NOTIFY_CHANNEL, problem, payload
            )
        self.wakeup.set()

    async def run(self) -> None:
        try:
            async with listening(self.dsn, NOTIFY_CHANNEL, self._on_payload) as channel:
                self.connected = True
                logger.info("listening on %s", NOTIFY_CHANNEL)
                self.wakeup.set()  # catch up on whatever arrived while we were not listening
                while True:
                    await channel.watch(self.ping_interval)
        finally:
            self.connected = False
