"""Evaluation rows written straight into the tables the evaluator and the replay fill
(``prediction_evaluations``, ``prediction_replays`` + ``prediction_replay_evaluations``), for
the statistics and quality-monitor tests: they build on the tables, not on the evaluator.

``FIXED_SET`` is a small set of outcomes whose statistics the tests work out by hand."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from tests.support.models import TrainedFile, insert_ml_model
from tests.support.world import World

# A fixed instant for timestamps that must not depend on the clock (day and hour buckets).
FIXED_BASE = datetime(2024, 3, 5, 12, 0, tzinfo=UTC)

_ids = itertools.count(1)


@dataclass(frozen=True)
class Row:
    """One evaluated prediction: what the statistics read. ``target_hit`` None: the outcome
    is not_applicable."""

    probability: float
    prediction: int
    is_alert: bool
    target_hit: bool | None
    realised_change_pct: float | None
    age: timedelta  # before the base instant (FIXED_BASE, or now)

    @property
    def result(self) -> str:
        if self.target_hit is None:
            return "not_applicable"
        return "success" if self.target_hit == (self.prediction == 1) else "failed"


M = timedelta(minutes=1)
H = timedelta(hours=1)
D = timedelta(days=1)

# Threshold 0.7 (the default); prediction = 1 above 0.5. Rows 1–5 are less than an hour old,
# 6–9 less than a day, 10–12 three days (numbers as in the tests' hand computations).
FIXED_SET = (
    Row(0.9500, 1, True, True, 8.0, 10 * M),  # 1
    Row(0.8200, 1, True, False, 1.0, 20 * M),  # 2
    Row(0.3000, 0, False, False, -2.0, 30 * M),  # 3
    Row(0.0500, 0, False, True, 6.0, 40 * M),  # 4
    Row(0.8800, 1, True, None, None, 15 * M),  # 5 not applicable
    Row(0.7500, 1, True, True, 12.0, 3 * H),  # 6
    Row(0.6000, 1, False, True, 5.5, 4 * H),  # 7
    Row(0.1000, 0, False, False, 0.0, 5 * H),  # 8
    Row(0.7000, 1, True, False, -3.0, 6 * H),  # 9
    Row(1.0000, 1, True, True, 20.0, 3 * D),  # 10
    Row(0.4500, 0, False, False, -1.0, 3 * D + H),  # 11
    Row(0.2000, 0, False, None, None, 3 * D),  # 12 not applicable
)


async def insert_live(
    conn: asyncpg.Connection | asyncpg.Pool,
    model: dict[str, Any],
    rows: tuple[Row, ...] | list[Row],
    *,
    base: datetime = FIXED_BASE,
    coin: str = "COIN",
) -> None:
    """``rows`` as ``prediction_evaluations`` of ``model`` (an active model as the API shows
    it), at ``base - row.age``."""
    await conn.executemany(
        """
        INSERT INTO prediction_evaluations (
            prediction_id, data_timestamp, coin_id, model_id, active_model_id, probability,
            prediction, is_alert, tag, target_variable, future_minutes, price_change_percent,
            target_direction, horizon_at, realised_change_pct, target_hit, result)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'price_close', $10, $11, $12,
                $2::timestamptz + make_interval(mins => $10::int), $13, $14, $15)
        """,
        [
            (
                next(_ids),
                base - r.age,
                coin,
                model["model_id"],
                model["id"],
                r.probability,
                r.prediction,
                r.is_alert,
                "alert" if r.is_alert else ("positive" if r.prediction else "negative"),
                model["future_minutes"],
                model["price_change_percent"],
                model["target_direction"],
                r.realised_change_pct,
                r.target_hit,
                r.result,
            )
            for r in rows
        ],
    )


async def insert_replay(
    conn: asyncpg.Connection | asyncpg.Pool,
    active_model_id: int,
    rows: tuple[Row, ...] | list[Row],
    *,
    base: datetime = FIXED_BASE,
) -> int:
    """A finished replay of the model whose evaluations are ``rows``; its id."""
    replay_id = int(
        await conn.fetchval(
            """
            INSERT INTO prediction_replays (active_model_id, range_start, range_end, status,
                                            max_rows, max_seconds)
            VALUES ($1, $2, $3, 'done', 1000, 60) RETURNING id
            """,
            active_model_id,
            base - 4 * D,
            base,
        )
    )
    await conn.executemany(
        """
        INSERT INTO prediction_replay_evaluations (
            replay_id, coin_id, data_timestamp, probability, prediction, is_alert,
            realised_change_pct, target_hit, result)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
        """,
        [
            (
                replay_id,
                f"COIN{k}",
                base - r.age,
                r.probability,
                r.prediction,
                r.is_alert,
                r.realised_change_pct,
                r.target_hit,
                r.result,
            )
            for k, r in enumerate(rows)
        ],
    )
    return replay_id


async def import_model(
    world: World,
    trained: TrainedFile,
    name: str,
    *,
    model_type: str = "random_forest",
    time_based: bool = True,
    training_precision: float | None = None,
) -> dict[str, Any]:
    """A real model file imported through the API (time-based: 10 minutes, +5 %, up); its
    active model as the API answers it. ``training_precision`` is written into its ml_models
    row first, as the training service would."""
    async with world.pool.acquire() as conn:
        model_id = await insert_ml_model(
            conn, name=name, path=trained.path, model_type=model_type, time_based=time_based
        )
        if training_precision is not None:
            await conn.execute(
                "UPDATE ml_models SET training_precision = $2 WHERE id = $1",
                model_id,
                training_precision,
            )
    resp = await world.api.post("/api/models/import", json={"model_id": model_id})
    assert resp.status_code == 201, resp.text
    body: dict[str, Any] = resp.json()
    return body


# Realised moves (%) given in turn to stored predictions by ``evaluate_stored`` (a +5 % up
# target is hit by the first and third).
MOVES = (8.0, -2.5, 6.0, 1.0)


async def evaluate_stored(
    conn: asyncpg.Connection | asyncpg.Pool,
    model: dict[str, Any],
    *,
    before: datetime,
    moves: tuple[float, ...] = MOVES,
) -> list[dict[str, Any]]:
    """Evaluation rows for the model's stored predictions with data time before ``before``
    (as the evaluator would write them, the facts copied from each prediction): a coin's k-th
    (by data time) realised ``moves[k % len(moves)]`` (so a coin with two has one that came
    true and one that did not), the window's high 2 points above and low 3
    below it, the target hit when the move reaches the model's ``price_change_percent``. The
    rows as written (``prediction_id``, ``coin_id``, ``is_alert``, ``realised_change_pct``,
    ``target_hit``, ``result``)."""
    preds = await conn.fetch(
        """
        SELECT id, data_timestamp, coin_id, model_id, active_model_id, probability,
               prediction, is_alert, tag
        FROM predictions WHERE active_model_id = $1 AND data_timestamp < $2
        ORDER BY coin_id, data_timestamp, id
        """,
        model["id"],
        before,
    )
    target = float(model["price_change_percent"])
    written = []
    seen: dict[str, int] = {}
    for p in preds:
        k = seen[p["coin_id"]] = seen.get(p["coin_id"], -1) + 1
        move = moves[k % len(moves)]
        hit = move >= target
        written.append(
            {
                "prediction_id": p["id"],
                "coin_id": p["coin_id"],
                "is_alert": p["is_alert"],
                "realised_change_pct": move,
                "target_hit": hit,
                "result": "success" if hit == (p["prediction"] == 1) else "failed",
                "row": p,
            }
        )
    await conn.executemany(
        """
        INSERT INTO prediction_evaluations (
            prediction_id, data_timestamp, coin_id, model_id, active_model_id, probability,
            prediction, is_alert, tag, target_variable, future_minutes, price_change_percent,
            target_direction, horizon_at, start_value, end_value, end_timestamp,
            realised_change_pct, max_change_pct, max_at, min_change_pct, min_at, target_hit,
            result)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'price_close', $10, $11, $12,
                $2::timestamptz + make_interval(mins => $10::int), 1.0, 1.0 + $13 / 100.0,
                $2::timestamptz + make_interval(mins => $10::int), $13, $13 + 2, $2, $13 - 3,
                $2, $14, $15)
        """,
        [
            (
                w["prediction_id"],
                w["row"]["data_timestamp"],
                w["coin_id"],
                w["row"]["model_id"],
                w["row"]["active_model_id"],
                w["row"]["probability"],
                w["row"]["prediction"],
                w["row"]["is_alert"],
                w["row"]["tag"],
                model["future_minutes"],
                model["price_change_percent"],
                model["target_direction"],
                w["realised_change_pct"],
                w["target_hit"],
                w["result"],
            )
            for w in written
        ],
    )
    return [{k: v for k, v in w.items() if k != "row"} for w in written]
