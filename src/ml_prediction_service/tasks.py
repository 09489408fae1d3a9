"""Supervised background tasks: a crash is logged with the task's name, counted, and the
task restarted with backoff — never a silent dead loop."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from ml_prediction_service.db.pool import CONNECTION_ERRORS
from ml_prediction_service.observability.metrics import Metrics

logger = logging.getLogger(__name__)


def supervise(
    name: str,
    run: Callable[[], Awaitable[None]],
    metrics: Metrics,
    *,
    initial_backoff: float = 0.5,
    max_backoff: float = 10.0,
) -> asyncio.Task[None]:
    """Start ``run()`` as a named task that is restarted whenever it raises."""

    async def _loop() -> None:
        backoff = initial_backoff
        while True:
            started = time.monotonic()
            try:
                await run()
                logger.info("background task %s finished", name)
                return
            except asyncio.CancelledError:
                raise
            except CONNECTION_ERRORS as exc:
                metrics.errors_total.labels(type="db").inc()
                logger.warning(
                    "background task %s lost its connection (%s: %s); restarting in %.1fs",
                    name,
                    type(exc).__name__,
                    exc,
                    backoff,
                )
            except Exception:
                metrics.errors_total.labels(type="task_crash").inc()
                logger.exception("background task %s crashed; restarting in %.1fs", name, backoff)
            if time.monotonic() - started > 60:
                backoff = initial_backoff  # it ran fine for a while: start over
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, max_backoff)

    return asyncio.create_task(_loop(), name=name)


async def cancel_all(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel tasks (in reverse start order) and wait for them."""
    for task in reversed(tasks):
        task.cancel()
    for task in reversed(tasks):
        try:
            await task
        except asyncio.CancelledError:
            pass
        except Exception:  # pragma: no cover - logged by supervise already
            logger.exception("task %s failed during shutdown", task.get_name())
