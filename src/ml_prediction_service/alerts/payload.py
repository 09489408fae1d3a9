"""The n8n payload (contract §6): one POST per coin snapshot (and webhook URL) with
every model's prediction for it, each with the full model object and an alert flag."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ml_prediction_service import __version__
from ml_prediction_service.models.explain import Reason
from ml_prediction_service.models.metadata import ActiveModelRecord

SERVICE_NAME = "ml-prediction-service"


@dataclass(frozen=True, slots=True)
class OutgoingPrediction:
    model: ActiveModelRecord
    prediction: int
    probability: float  # as stored (models/decision.py)
    is_alert: bool
    alert_threshold: float
    tag: str  # negative / positive / alert
    # alerts: the features that pushed the probability up most (None: not an alert, or
    # ALERT_REASONS=0, or explaining failed)
    reasons: list[Reason] | None = None


def static_model_object(model: ActiveModelRecord) -> dict[str, Any]:
    """The part of a model's object that changes only when the model is edited (stored once
    per version for the outbox: ``alerts/references.py``)."""
    return {
        "id": model.model_id,
        "active_model_id": model.id,
        "name": model.name,
        "custom_name": model.custom_name,
        "model_type": model.model_type,
        "target_variable": model.target_variable,
        "target_operator": model.target_operator,
        "target_value": model.target_value,
        "future_minutes": model.future_minutes,
        "price_change_percent": model.price_change_percent,
        "target_direction": model.target_direction,
        "features": list(model.features),
        "phases": list(model.phases) if model.phases is not None else None,
    }


def changing_model_fields(model: ActiveModelRecord) -> dict[str, Any]:
    """The fields of a model's object that change with every batch it predicts."""
    return {
        "total_predictions": model.total_predictions,
        "last_prediction_at": model.last_prediction_at.isoformat()
        if model.last_prediction_at
        else None,
    }


def model_object(model: ActiveModelRecord) -> dict[str, Any]:
    """The full model object of the payload (contract §6): static fields, then changing."""
    return static_model_object(model) | changing_model_fields(model)


ModelObjectMaker = Callable[[ActiveModelRecord], dict[str, Any]]


def _cached_model_object(
    cache: dict[int, dict[str, Any]], model: ActiveModelRecord, make: ModelObjectMaker
) -> dict[str, Any]:
    obj = cache.get(model.id)
    if obj is None:
        obj = cache[model.id] = make(model)
    return obj


def build_payload(
    coin_id: str,
    timestamp: datetime,
    predictions: list[OutgoingPrediction],
    *,
    model_objects: dict[int, dict[str, Any]] | None = None,
    make_object: ModelObjectMaker = model_object,
    **metadata: Any,
) -> dict[str, Any]:
    """The payload of one coin snapshot. ``model_objects`` caches each model's object across
    the payloads of a batch (one model object has ~90 feature names; built once, not once
    per coin). The cached objects are shared: nothing may change them. ``make_object``
    makes a model's object (the outbox passes ``references.ModelObjects.reference``)."""
    cache = model_objects if model_objects is not None else {}
    items = []
    for p in sorted(predictions, key=lambda p: p.model.id):
        obj = _cached_model_object(cache, p.model, make_object)
        items.append(
            {
                "prediction": p.prediction,
                "probability": round(float(p.probability), 6),
                "is_alert": p.is_alert,
                "tag": p.tag,
                "alert_threshold": float(p.alert_threshold),
                "reasons": p.reasons,
                "model": obj,
            }
        )
    return {
        "coin_id": coin_id,
        "timestamp": timestamp.isoformat(),
        "predictions": items,
        "metadata": {
            "total_predictions": len(items),
            "alerts_count": sum(1 for i in items if i["is_alert"]),
            "service": SERVICE_NAME,
            "version": __version__,
            **metadata,
        },
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass(frozen=True, slots=True)
class OutgoingEvaluation:
    """The outcome of one evaluated alert (docs/evaluation.md, "Evaluation webhooks")."""

    model: ActiveModelRecord
    prediction_id: int
    prediction: int
    probability: float
    alert_threshold: float
    evaluation: dict[str, Any]  # the stored evaluation's fields (evaluations_repo columns)


_OUTCOME_FIELDS = (
    "result",
    "target_hit",
    "realised_change_pct",
    "start_value",
    "end_value",
    "max_change_pct",
    "min_change_pct",
    "note",
)
_OUTCOME_TIMES = ("horizon_at", "end_timestamp", "max_at", "min_at", "evaluated_at")


def build_evaluation_payload(
    coin_id: str,
    timestamp: datetime,
    evaluations: list[OutgoingEvaluation],
    *,
    model_objects: dict[int, dict[str, Any]] | None = None,
    make_object: ModelObjectMaker = model_object,
) -> dict[str, Any]:
    """The follow-up of one coin snapshot's evaluated alerts (for one URL): the prediction
    payload's shape with ``"event": "evaluation"`` and an ``evaluations`` list instead of
    ``predictions``; each item has the alert (prediction, probability, threshold, model)
    and its outcome."""
    cache = model_objects if model_objects is not None else {}
    items = []
    for e in sorted(evaluations, key=lambda e: e.model.id):
        obj = _cached_model_object(cache, e.model, make_object)
        outcome: dict[str, Any] = {k: e.evaluation.get(k) for k in _OUTCOME_FIELDS}
        outcome |= {k: _iso(e.evaluation.get(k)) for k in _OUTCOME_TIMES}
        items.append(
            {
                "prediction_id": e.prediction_id,
                "prediction": e.prediction,
                "probability": round(float(e.probability), 6),
                "is_alert": True,
                "alert_threshold": float(e.alert_threshold),
                **outcome,
                "model": obj,
            }
        )
    return {
        "event": "evaluation",
        "coin_id": coin_id,
        "timestamp": timestamp.isoformat(),
        "evaluations": items,
        "metadata": {
            "total_evaluations": len(items),
            "came_true": sum(1 for i in items if i["target_hit"] is True),
            "service": SERVICE_NAME,
            "version": __version__,
        },
    }
