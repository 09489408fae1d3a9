"""Helpers of the live-evaluation tests: coins whose price path after a prediction is known,
and the evaluator driven by hand.

The tests' coin rows are in the past (``tests.support.metrics.T0``), so every horizon has
passed the moment a prediction is stored. The service under test therefore runs its evaluator
once at start and then sleeps (``MANUAL``); a test stores predictions, writes the rows after
them and then runs a round itself (``service.evaluator.run_round()``) — or starts an evaluator
of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from ml_prediction_service.config import Settings
from ml_prediction_service.evaluation.evaluator import Evaluator
from ml_prediction_service.models.metadata import ActiveModelRecord
from ml_prediction_service.observability.metrics import Metrics
from tests.support.metrics import T0, coin_rows, insert_metrics
from tests.support.settings import service_settings
from tests.support.wait import eventually

# the service's own evaluator: one round at start, then an hour's sleep; no settle time
MANUAL: dict[str, object] = {
    "evaluation_interval_seconds": 3600,
    "evaluation_settle_seconds": 0,
}

HISTORY_ROWS = 12  # rows of 5 s before the prediction (the models need 5+)
M = timedelta(minutes=1)

# (after the prediction, price relative to the prediction's row): the test models' target
# is +5 % within 10 minutes. UP: +8 % at the horizon's row, +20 % high, -3 % low. FLAT:
# +1 % at the horizon's row, +4 % high, -1 % low. Both have a row after the horizon.
UP = ((2 * M, 1.20), (4 * M, 0.97), (9 * M, 1.08), (11 * M, 1.5))
FLAT = ((2 * M, 1.04), (4 * M, 0.99), (9 * M, 1.01), (11 * M, 1.5))


@dataclass(frozen=True)
class Snapshot:
    """A coin's predicted row: its mint, timestamp and price_close."""

    mint: str
    timestamp: datetime
    price: float


async def predicted(
    pool: asyncpg.Pool, mint: str, models: int, *, seed: int = 5, start: datetime = T0
) -> Snapshot:
    """A coin's history (``HISTORY_ROWS`` rows), once ``models`` predictions of its newest
    row are stored."""
    rows = coin_rows(mint, HISTORY_ROWS, seed=seed, start=start)
    await insert_metrics(pool, rows)
    last = rows[-1]
    ts = datetime.fromisoformat(last["timestamp"])

    async def stored() -> bool:
        n = await pool.fetchval(
            "SELECT count(*) FROM predictions WHERE coin_id = $1 AND data_timestamp = $2", mint, ts
        )
        return int(n) == models

    assert await eventually(stored, 30), f"no {models} predictions of {mint} at {ts}"
    return Snapshot(mint, ts, float(last["price_close"]))


async def then(
    pool: asyncpg.Pool, snap: Snapshot, moves: tuple[tuple[timedelta, float], ...]
) -> None:
    """Rows of the coin after its prediction: ``(delay, price relative to its row)``."""
    rows = coin_rows(snap.mint, len(moves), seed=99)
    for row, (delay, factor) in zip(rows, moves, strict=True):
        row["timestamp"] = (snap.timestamp + delay).isoformat()
        row["price_close"] = snap.price * factor
    await insert_metrics(pool, rows)


async def evaluation_of(pool: asyncpg.Pool, prediction_id: int) -> dict[str, Any] | None:
    row = await pool.fetchrow(
        "SELECT * FROM prediction_evaluations WHERE prediction_id = $1", prediction_id
    )
    return dict(row) if row is not None else None


async def prediction_ids(pool: asyncpg.Pool, snap: Snapshot) -> dict[int, int]:
    """Active model id → id of its prediction of the snapshot."""
    rows = await pool.fetch(
        "SELECT active_model_id, id FROM predictions WHERE coin_id = $1 AND data_timestamp = $2",
        snap.mint,
        snap.timestamp,
    )
    return {int(r["active_model_id"]): int(r["id"]) for r in rows}


def own_evaluator(
    pool: asyncpg.Pool,
    tmp_path: Path,
    *,
    models: dict[int, ActiveModelRecord] | None = None,
    **overrides: object,
) -> Evaluator:
    """An evaluator of its own (its own pool and metrics: another "replica")."""
    settings: Settings = service_settings(tmp_path, **(MANUAL | overrides))
    return Evaluator(pool, settings, Metrics(), lambda: models or {})
