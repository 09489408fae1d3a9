"""The live outcome evaluator (docs/evaluation.md, "Live evaluation"): the supervised task
``evaluator`` that evaluates every stored prediction of a model with a horizon once it has
passed.

One transaction per batch: claim due rows (``FOR UPDATE SKIP LOCKED``: replicas share the
work, each row is done by one), read the predictions each stands for and the window facts
from ``coin_metrics`` (one query per target variable), apply :func:`rules.evaluate`, store
the evaluations (``ON CONFLICT DO NOTHING``: each prediction exactly once), delete the due
rows, queue the evaluation webhooks. A coin with no row after the horizon yet is checked
again later, until ``EVALUATION_DEAD_COIN_SECONDS`` after the horizon, then evaluated from
its last row. Due rows persist, so an evaluator that was down catches up when it starts.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from ml_prediction_service.alerts.outbox import OutboxRow, evaluation_outbox_rows
from ml_prediction_service.alerts.payload import OutgoingEvaluation
from ml_prediction_service.alerts.references import ModelObjects, StoredObjects
from ml_prediction_service.config import Settings
from ml_prediction_service.db import evaluations_repo, webhooks_repo
from ml_prediction_service.db.evaluations_repo import Due, DueKey
from ml_prediction_service.db.pool import CONNECTION_ERRORS
from ml_prediction_service.evaluation import rules
from ml_prediction_service.evaluation.rules import EvaluationTarget, Outcome, WindowFacts
from ml_prediction_service.models.metadata import ActiveModelRecord
from ml_prediction_service.observability.metrics import Metrics

logger = logging.getLogger(__name__)


@dataclass
class EvaluatorStats:
    """What this evaluator did (tests and logs read it)."""

    batches: int = 0
    due_done: int = 0  # due rows finished (evaluated or without predictions)
    rechecks: int = 0  # due rows put back: no row after the horizon yet
    attempted: int = 0  # predictions this evaluator computed an outcome for
    stored: int = 0  # of those, evaluations that were new (the others existed)
    webhooks: int = 0  # evaluation deliveries queued
    results: Counter[str] = field(default_factory=Counter)


def target_of(row: dict[str, Any]) -> EvaluationTarget:
    return EvaluationTarget(
        future_minutes=row["future_minutes"],
        price_change_percent=row["price_change_percent"],
        target_direction=row["target_direction"],
        target_operator=row["target_operator"],
        target_value=row["target_value"],
    )


def unreadable(variable: str) -> Outcome:
    return Outcome(
        "not_applicable",
        None,
        None,
        None,
        None,
        None,
        None,
        f"target variable {variable!r} is not a coin_metrics column the service reads",
    )


def evaluation_row(
    pred: dict[str, Any], due: Due, facts: WindowFacts | None, outcome: Outcome
) -> dict[str, Any]:
    """The ``prediction_evaluations`` row: the prediction's facts, the window, the outcome."""
    return {
        "prediction_id": pred["id"],
        "data_timestamp": pred["data_timestamp"],
        "coin_id": pred["coin_id"],
        "model_id": pred["model_id"],
        "active_model_id": pred["active_model_id"],
        "probability": pred["probability"],
        "prediction": pred["prediction"],
        "is_alert": bool(pred["is_alert"]),
        "tag": pred["tag"],
        "target_variable": pred["target_variable"],
        "future_minutes": pred["future_minutes"],
        "price_change_percent": pred["price_change_percent"],
        "target_direction": pred["target_direction"],
        "horizon_at": due.horizon_at,
        "start_value": facts.start_value if facts else None,
        "end_value": facts.end_value if facts else None,
        "end_timestamp": facts.end_timestamp if facts else None,
        "realised_change_pct": outcome.realised_change_pct,
        "max_change_pct": outcome.max_change_pct,
        "max_at": outcome.max_at,
        "min_change_pct": outcome.min_change_pct,
        "min_at": outcome.min_at,
        "target_hit": outcome.target_hit,
        "result": outcome.result,
        "note": outcome.note,
    }


class Evaluator:
    def __init__(
        self,
        pool: asyncpg.Pool,
        settings: Settings,
        metrics: Metrics,
        models: Callable[[], dict[int, ActiveModelRecord]],
        webhook_wakeup: asyncio.Event | None = None,
    ) -> None:
        """``models``: the active models by id now (their webhook settings decide which
        outcomes are sent; a model no longer active sends none)."""
        self.pool = pool
        self.metrics = metrics
        self.models = models
        self.webhook_wakeup = webhook_wakeup
        self.default_url = settings.n8n_webhook_url
        self.interval = settings.evaluation_interval_seconds
        self.batch_size = settings.evaluation_batch_size
        self.dead_after = timedelta(seconds=settings.evaluation_dead_coin_seconds)
        # a re-check waits at least one round, and not longer than the first check waited
        self.retry_seconds = max(settings.evaluation_settle_seconds, self.interval)
        self.pace = settings.evaluation_pace
        self.catch_up_seconds = settings.evaluation_catch_up_seconds
        self.lag_seconds = 0.0  # how long the oldest due row of the last batch had waited
        self.stats = EvaluatorStats()
        self._failing = False
        self.stored_objects = StoredObjects()

    async def run(self) -> None:
        while True:
            try:
                await self.run_round()
            except CONNECTION_ERRORS:
                raise  # the supervisor restarts the task with backoff
            except asyncpg.PostgresError as exc:
                # e.g. a lock timeout; the due rows stay and the next round tries again
                self.metrics.errors_total.labels(type="evaluation").inc()
                if not self._failing:
                    logger.warning(
                        "evaluator round failed (retried every %gs): %s", self.interval, exc
                    )
                self._failing = True
            else:
                if self._failing:
                    logger.info("evaluator works again")
                self._failing = False
            await asyncio.sleep(self.interval)

    async def run_round(self) -> int:
        """Batches until fewer than a full batch were due; then the backlog gauge. Returns
        the due rows claimed."""
        claimed = 0
        while True:
            started = time.monotonic()
            n = await self.evaluate_once()
            claimed += n
            if n < self.batch_size:
                break
            await self._pause(time.monotonic() - started)
        self.metrics.evaluation_backlog.set(await evaluations_repo.backlog(self.pool))
        return claimed

    def pause_after(self, busy: float) -> float:
        """Seconds to pause after a full batch that took ``busy`` seconds: ``EVALUATION_PACE``
        times that, so that evaluating (about as much database work per row as the
        prediction write) never comes in bursts that delay the pipeline; none while the
        evaluator is behind by more than ``EVALUATION_CATCH_UP_SECONDS`` (after downtime, or
        when paced it cannot keep up: then it works without pauses until it is back)."""
        if self.pace > 0 and self.lag_seconds < self.catch_up_seconds:
            return busy * self.pace
        return 0.0

    async def _pause(self, busy: float) -> None:
        pause = self.pause_after(busy)
        if pause > 0:
            await asyncio.sleep(pause)

    async def evaluate_once(self) -> int:
        """One batch in one transaction; returns the number of due rows claimed."""
        queued = 0
        async with self.pool.acquire() as conn, conn.transaction():
            due, now = await evaluations_repo.claim_due(conn, self.batch_size)
            if not due or now is None:
                self.lag_seconds = 0.0
                return 0
            self.lag_seconds = (now - min(d.check_at for d in due)).total_seconds()
            preds = await evaluations_repo.predictions_of(conn, [d.key for d in due])
            by_due: dict[DueKey, list[dict[str, Any]]] = defaultdict(list)
            for p in preds:
                by_due[(p["coin_id"], p["data_timestamp"], p["future_minutes"])].append(p)
            facts = await self._facts(conn, due, by_due)
            done: list[DueKey] = []
            later: list[DueKey] = []
            rows: list[dict[str, Any]] = []
            for d in due:
                mine = by_due.get(d.key, [])
                if mine and not self._ready(d, mine, facts, now):
                    later.append(d.key)
                    continue
                done.append(d.key)
                for p in mine:
                    found = facts.get((d.key, p["target_variable"]))
                    if evaluations_repo.readable(p["target_variable"]) and found is not None:
                        outcome = rules.evaluate(found, target_of(p), p["prediction"], d.horizon_at)
                    else:
                        outcome = unreadable(p["target_variable"])
                    rows.append(evaluation_row(p, d, found, outcome))
            new = await evaluations_repo.insert_evaluations(conn, rows)
            await evaluations_repo.delete_due(conn, done)
            await evaluations_repo.recheck_due(
                conn,
                later,
                retry_seconds=self.retry_seconds,
                dead_coin_seconds=self.dead_after.total_seconds(),
            )
            stored = [r for r in rows if r["prediction_id"] in new]
            objects = ModelObjects()
            outbox = self._outbox(stored, new, {p["id"]: p for p in preds}, objects)
            await webhooks_repo.enqueue_evaluations(
                conn, outbox, self.stored_objects.unstored(objects)
            )
            queued = len(outbox)
        self.stored_objects.committed(objects)
        self._account(len(due), len(done), len(later), rows, stored, queued)
        return len(due)

    async def _facts(
        self,
        conn: asyncpg.Connection,
        due: list[Due],
        by_due: dict[DueKey, list[dict[str, Any]]],
    ) -> dict[tuple[DueKey, str], WindowFacts]:
        """The window facts per (due row, target variable): one query per variable over the
        due rows whose predictions need it."""
        need: dict[str, list[Due]] = defaultdict(list)
        for d in due:
            for variable in sorted({p["target_variable"] for p in by_due.get(d.key, [])}):
                if evaluations_repo.readable(variable):
                    need[variable].append(d)
        out: dict[tuple[DueKey, str], WindowFacts] = {}
        for variable, rows in need.items():
            found = await evaluations_repo.window_facts(conn, variable, rows)
            for d, f in zip(rows, found, strict=True):
                out[(d.key, variable)] = f
        return out

    def _ready(
        self,
        d: Due,
        preds: list[dict[str, Any]],
        facts: dict[tuple[DueKey, str], WindowFacts],
        now: datetime,
    ) -> bool:
        """Whether the due row is evaluated now: the coin has a row after the horizon, or the
        dead-coin wait is over (or no target can be read at all)."""
        keys = [(d.key, p["target_variable"]) for p in preds]
        known = [facts[k] for k in keys if k in facts]
        if not known:
            return True  # nothing to read: not_applicable now
        if not rules.is_dead(known[0], d.horizon_at):
            return True
        return now >= d.horizon_at + self.dead_after

    def _outbox(
        self,
        stored: list[dict[str, Any]],
        new: dict[int, datetime],
        preds: dict[int, dict[str, Any]],
        objects: ModelObjects,
    ) -> list[OutboxRow]:
        """Evaluation deliveries of the new evaluations of alerts that were sent or would have
        been (not stale, not suppressed), of active models with send mode ``evaluations``."""
        models = self.models()
        items = []
        for row in stored:
            pred = preds[row["prediction_id"]]
            model = models.get(pred["active_model_id"])
            if not row["is_alert"] or pred["is_stale"] or pred["suppressed"] or model is None:
                continue
            evaluation = {**row, "evaluated_at": new[row["prediction_id"]]}
            threshold = pred["alert_threshold"]
            items.append(
                (
                    row["coin_id"],
                    row["data_timestamp"],
                    OutgoingEvaluation(
                        model,
                        row["prediction_id"],
                        int(row["prediction"]),
                        float(row["probability"]),
                        float(model.alert_threshold if threshold is None else threshold),
                        evaluation,
                    ),
                )
            )
        return evaluation_outbox_rows(items, self.default_url, objects) if items else []

    def _account(
        self,
        claimed: int,
        done: int,
        later: int,
        rows: list[dict[str, Any]],
        stored: list[dict[str, Any]],
        queued: int,
    ) -> None:
        s = self.stats
        s.batches += 1
        s.due_done += done
        s.rechecks += later
        s.attempted += len(rows)
        s.stored += len(stored)
        s.webhooks += queued
        results = Counter(r["result"] for r in stored)
        s.results.update(results)
        for result, n in results.items():
            self.metrics.evaluations_total.labels(result=result).inc(n)
        if queued and self.webhook_wakeup is not None:
            self.webhook_wakeup.set()
        if len(stored) < len(rows):
            logger.info("%d evaluations already existed", len(rows) - len(stored))
        logger.debug(
            "evaluator: %d due rows claimed, %d done, %d checked again later, %d evaluations",
            claimed,
            done,
            later,
            len(stored),
        )
