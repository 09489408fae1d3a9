"""Supervised tasks restart after failures with growing backoff, never in a busy loop."""

from __future__ import annotations

import asyncio

import pytest

from ml_prediction_service.observability.metrics import Metrics
from ml_prediction_service.tasks import cancel_all, supervise


@pytest.mark.parametrize(
    ("error", "label"), [(ConnectionError("gone"), "db"), (ValueError("bug"), "task_crash")]
)
async def test_failing_task_is_restarted_with_backoff(error: Exception, label: str) -> None:
    metrics = Metrics()
    calls = 0

    async def run() -> None:
        nonlocal calls
        calls += 1
        raise error

    task = supervise("failing", run, metrics, initial_backoff=0.05, max_backoff=1.0)
    await asyncio.sleep(0.5)
    await cancel_all([task])
    # 0.05 + 0.1 + 0.2 (+ 0.4 …): about four attempts in half a second, not thousands
    assert 2 <= calls <= 5
    assert metrics.errors_total.labels(type=label)._value.get() == calls


async def test_task_that_returns_is_not_restarted() -> None:
    calls = 0

    async def run() -> None:
        nonlocal calls
        calls += 1

    task = supervise("once", run, Metrics(), initial_backoff=0.01)
    await asyncio.sleep(0.1)
    assert task.done() and calls == 1
