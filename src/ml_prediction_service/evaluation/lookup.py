"""A prediction's evaluation as ``GET /api/predictions/{id}`` shows it (docs/evaluation.md):
the stored row, or pending until its horizon has been evaluated, or not_applicable for a
rule-based model without a horizon (its predictions are never queued)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from ml_prediction_service.db import evaluations_repo
from ml_prediction_service.db.pool import Executor
from ml_prediction_service.evaluation.statistics import NOT_EVALUABLE


async def prediction_evaluation(
    conn: Executor, prediction: dict[str, Any]
) -> dict[str, Any] | None:
    """``prediction``: a predictions row (``id``, ``data_timestamp``, ``active_model_id``).
    The evaluation row (``result`` success / failed / not_applicable), ``{"result":
    "pending", "horizon_at"}``, ``{"result": "not_applicable", "horizon_at": None, "note"}``
    for a model without a horizon, or None when its model is gone and nothing was stored."""
    found = await evaluations_repo.get_evaluation(
        conn, prediction["id"], prediction["data_timestamp"]
    )
    if found is not None:
        return found
    if prediction["active_model_id"] is None:
        return None
    target = await evaluations_repo.model_target(conn, prediction["active_model_id"])
    if target is None:
        return None
    if target["future_minutes"]:
        horizon = prediction["data_timestamp"] + timedelta(minutes=target["future_minutes"])
        return {"result": "pending", "horizon_at": horizon}
    return {"result": "not_applicable", "horizon_at": None, "note": NOT_EVALUABLE}
