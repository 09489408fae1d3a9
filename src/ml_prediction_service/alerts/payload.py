"""The n8n payload of the guide's step 11: one POST per coin snapshot (and webhook URL) with
every model's prediction for it, each with the full model object and an alert flag."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ml_prediction_service import __version__

SERVICE_NAME = "ml-prediction-service"


@dataclass(frozen=True, slots=True)
class OutgoingPrediction:
    meta: dict[str, Any]  # the prediction_active_models row
    prediction: int
    probability: float
    is_alert: bool
    alert_threshold: float


def _float_or_none(value: Any) -> float | None:
    return float(value) if value is not None else None


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


def model_object(meta: dict[str, Any]) -> dict[str, Any]:
    custom = meta.get("custom_name")
    return {
        "id": meta["model_id"],
        "active_model_id": meta["id"],
        "name": custom or meta["model_name"],
        "custom_name": custom,
        "model_type": meta["model_type"],
        "target_variable": meta["target_variable"],
        "target_operator": meta.get("target_operator"),
        "target_value": _float_or_none(meta.get("target_value")),
        "future_minutes": meta.get("future_minutes"),
        "price_change_percent": _float_or_none(meta.get("price_change_percent")),
        "target_direction": meta.get("target_direction"),
        "features": list(meta.get("features") or []),
        "phases": meta.get("phases"),
        "total_predictions": int(meta.get("total_predictions") or 0),
        "last_prediction_at": _iso(meta.get("last_prediction_at")),
    }


def build_payload(
    coin_id: str, timestamp: datetime, predictions: list[OutgoingPrediction], **metadata: Any
) -> dict[str, Any]:
    items = [
        {
            "prediction": p.prediction,
            "probability": round(float(p.probability), 6),
            "is_alert": p.is_alert,
            "alert_threshold": float(p.alert_threshold),
            "model": model_object(p.meta),
        }
        for p in sorted(predictions, key=lambda p: int(p.meta["id"]))
    ]
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
