"""On-demand prediction for one coin (``POST /api/predict``): the same history, features and
runtimes as the real-time path, read in full as of the requested time, not stored."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

import asyncpg

from ml_prediction_service.db import metrics_repo
from ml_prediction_service.errors import NotFoundError
from ml_prediction_service.models.registry import ModelRegistry
from ml_prediction_service.pipeline.history import HistoryStore, Snapshot, assemble
from ml_prediction_service.pipeline.predictor import predict_batch
from ml_prediction_service.pipeline.worker import required_depth


@dataclass
class ManualResult:
    coin_id: str
    timestamp: datetime
    phase_id: int | None
    history_rows: int
    predictions: list[dict[str, Any]]


async def predict_coin(
    pool: asyncpg.Pool,
    registry: ModelRegistry,
    coin_id: str,
    *,
    model_ids: list[int] | None,
    at: datetime | None,
    min_history_rows: int,
    alert_reasons: int = 0,
    exact_reasons: bool = False,
) -> ManualResult:
    models = registry.active()
    if model_ids is not None:
        wanted = set(model_ids)
        known = {m.id for m in registry.models.values()}
        unknown = sorted(wanted - known)
        if unknown:
            raise NotFoundError(
                f"not active or unknown model ids: {unknown}; active: {sorted(known)}",
                code="model_not_active",
            )
        models = [m for m in models if m.id in wanted]
    async with pool.acquire() as conn:
        if not await metrics_repo.table_exists(conn):
            raise NotFoundError("table coin_metrics does not exist", code="no_coin_metrics")
        snap_row = await metrics_repo.latest_snapshot(conn, coin_id, at)
        if snap_row is None:
            where = f" at or before {at.isoformat()}" if at else ""
            raise NotFoundError(
                f"no coin_metrics rows for coin {coin_id!r}{where}", code="coin_not_found"
            )
        snapshot = Snapshot(coin_id, snap_row[0], snap_row[1])
        coin_index, ts, values = await metrics_repo.fetch_histories(
            conn, [coin_id], [None], [snapshot.timestamp]
        )
    depth = required_depth(models)
    inputs = await asyncio.to_thread(
        assemble,
        HistoryStore(capacity=1, depth=depth),
        [snapshot],
        [None],
        coin_index,
        ts,
        values,
        update_cache=False,
    )
    outcome = await asyncio.to_thread(
        partial(
            predict_batch,
            inputs,
            models,
            min_history_rows=min_history_rows,
            keep_features=True,
            alert_reasons=alert_reasons,
            exact_reasons=exact_reasons,
        )
    )
    by_model = {row.model.id: row for row in outcome.rows()}
    reasons = {r.model.id: r.reasons.get(0) for r in outcome.results}  # one coin: row 0
    coin_skip = next((s for s in outcome.skips if s.model_id is None), None)
    coin_features = outcome.features_by_coin.get(0, {})
    results: list[dict[str, Any]] = []
    for model in registry.models.values():
        if model_ids is not None and model.id not in model_ids:
            continue
        base: dict[str, Any] = {
            "active_model_id": model.id,
            "model_id": model.record.model_id,
            "model_name": model.name,
            "alert_threshold": model.alert_threshold,
        }
        row = by_model.get(model.id)
        if row is not None:
            base.update(
                status="ok",
                prediction=row.prediction,
                probability=round(row.probability, 6),
                is_alert=row.is_alert,
                reasons=reasons.get(model.id),
                features={c: coin_features.get(c, 0.0) for c in row.model.loaded.input_columns}
                if row.model.loaded is not None
                else {},
            )
        elif model.loaded is None:
            base.update(status="refused", reason="model_not_loaded", detail=model.error)
        elif model.id in outcome.model_errors:
            base.update(
                status="refused", reason="model_error", detail=outcome.model_errors[model.id]
            )
        elif coin_skip is not None:
            base.update(status="refused", reason=coin_skip.reason, detail=coin_skip.detail)
        else:
            base.update(
                status="refused",
                reason="phase_not_served",
                detail=f"snapshot phase {snapshot.phase_id} not in the model's phases "
                f"{model.phases}",
            )
        results.append(base)
    return ManualResult(
        coin_id=coin_id,
        timestamp=snapshot.timestamp,
        phase_id=snapshot.phase_id,
        history_rows=int(inputs.history_rows[0]),
        predictions=results,
    )
