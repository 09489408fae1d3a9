"""Typed model rows for unit tests that need one without a database."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ml_prediction_service.models.metadata import ActiveModelRecord

TS = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def active_record(active_id: int, **overrides: Any) -> ActiveModelRecord:
    """A prediction_active_models row as the repository returns it."""
    values: dict[str, Any] = {
        "id": active_id,
        "model_id": 100 + active_id,
        "model_name": f"m{active_id}",
        "custom_name": None,
        "model_type": "xgboost",
        "target_variable": "price_close",
        "target_operator": None,
        "target_value": None,
        "future_minutes": 10,
        "price_change_percent": 5.0,
        "target_direction": "up",
        "features": ("a", "b"),
        "phases": (1, 2),
        "params": {},
        "local_model_path": f"/models/m{active_id}.joblib",
        "model_file_url": None,
        "is_active": True,
        "last_prediction_at": TS,
        "total_predictions": 3,
        "downloaded_at": TS,
        "activated_at": TS,
        "created_at": TS,
        "updated_at": TS,
        "alert_threshold": 0.7,
        "model_sha256": "0" * 64,
        "model_file_size": 1,
        "source": "training_service",
        "description": None,
        "training_metrics": None,
        "webhook_url": None,
        "webhook_enabled": True,
        "webhook_send_mode": ("all",),
        "model_library": "xgboost",
        "model_library_version": "2.0.2",
    }
    for key, value in overrides.items():
        values[key] = tuple(value) if isinstance(value, list) else value
    return ActiveModelRecord(**values)
