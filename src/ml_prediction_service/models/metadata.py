"""Model metadata from the training service's ``ml_models`` rows (or upload metadata):
read once, checked once, turned into the columns of ``prediction_active_models``.

The training service stores JSONB values that are sometimes JSON *strings* holding the JSON
(``features`` = ``'"[\\"a\\", \\"b\\"]"'``); its own reader parsed such a string once, and so do
we. A row that still cannot be read is listed with its reason and cannot be imported.
"""

from __future__ import annotations

import json
from typing import Any

from ml_prediction_service.errors import ServiceError

SUPPORTED_TYPES = ("random_forest", "xgboost")
JSON_FIELDS = (
    "features",
    "phases",
    "params",
    "feature_importance",
    "confusion_matrix",
    "cv_scores",
)
TRAINING_METRIC_FIELDS = (
    "training_accuracy",
    "training_f1",
    "training_precision",
    "training_recall",
    "roc_auc",
    "mcc",
    "fpr",
    "fnr",
    "confusion_matrix",
    "cv_scores",
    "simulated_profit_pct",
    "feature_importance",
    "train_start",
    "train_end",
)


class InvalidModelMetadata(ServiceError):
    code = "invalid_model_metadata"
    status = 422


def decode_json_fields(row: dict[str, Any]) -> dict[str, Any]:
    """A copy of the row with JSON-in-a-string values parsed once (a string that is not
    JSON, or JSON that is a plain string, stays as it is)."""
    out = dict(row)
    for key in JSON_FIELDS:
        value = out.get(key)
        if isinstance(value, str):
            try:
                decoded = json.loads(value)
            except ValueError:
                continue
            if isinstance(decoded, list | dict):
                out[key] = decoded
    return out


def _time_based(meta: dict[str, Any]) -> dict[str, Any]:
    params = meta.get("params") or {}
    tb = params.get("_time_based") if isinstance(params, dict) else None
    return tb if isinstance(tb, dict) else {}


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def _describe(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def metadata_values(meta: dict[str, Any], default_threshold: float) -> dict[str, Any]:
    """Columns of prediction_active_models taken from an ml_models row (or upload metadata);
    :class:`InvalidModelMetadata` says precisely what cannot be read.

    Time-based fields come from the columns or, where those are NULL, from
    ``params._time_based`` (min_percent_change = price_change_percent).
    """
    meta = decode_json_fields(meta)
    name = meta.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InvalidModelMetadata("model metadata needs a non-empty 'name'")
    model_type = meta.get("model_type")
    if model_type not in SUPPORTED_TYPES:
        raise InvalidModelMetadata(
            f"model_type {model_type!r} is not supported; use one of {list(SUPPORTED_TYPES)}"
        )
    features = meta.get("features")
    if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
        raise InvalidModelMetadata(f"'features' must be a list of names, not {_describe(features)}")
    target_variable = meta.get("target_variable")
    if not isinstance(target_variable, str) or not target_variable:
        raise InvalidModelMetadata("model metadata needs 'target_variable'")
    operator = meta.get("target_operator")
    if operator not in (None, ">", "<", ">=", "<=", "="):
        raise InvalidModelMetadata(f"target_operator {operator!r} is not one of > < >= <= =")
    params = meta.get("params")
    if params is not None and not isinstance(params, dict):
        raise InvalidModelMetadata(f"'params' must be an object, not {_describe(params)}")
    tb = _time_based(meta)
    direction = _first(meta.get("target_direction"), tb.get("direction"))
    if direction not in (None, "up", "down"):
        raise InvalidModelMetadata(f"target_direction {direction!r} is not 'up' or 'down'")
    phases = meta.get("phases")
    if phases is not None and (
        not isinstance(phases, list) or not all(isinstance(p, int) for p in phases)
    ):
        raise InvalidModelMetadata(
            f"'phases' must be a list of phase ids or null, not {_describe(phases)}"
        )
    metrics = {k: meta.get(k) for k in TRAINING_METRIC_FIELDS if meta.get(k) is not None}
    for key in ("train_start", "train_end"):
        if key in metrics:
            metrics[key] = str(metrics[key])
    return {
        "model_name": name.strip(),
        "model_type": model_type,
        "target_variable": target_variable,
        "target_operator": operator,
        "target_value": meta.get("target_value"),
        "future_minutes": _first(meta.get("future_minutes"), tb.get("future_minutes")),
        "price_change_percent": _first(
            meta.get("price_change_percent"), tb.get("min_percent_change")
        ),
        "target_direction": direction,
        "features": features,
        "phases": phases,
        "params": params or {},
        "description": meta.get("description"),
        "training_metrics": metrics or None,
        "alert_threshold": default_threshold,
    }


def listing(row: dict[str, Any], default_threshold: float) -> dict[str, Any]:
    """An ml_models row as the list of available models shows it: readable fields as they
    are, unreadable ones empty, and ``reason`` why it cannot be imported (None: it can)."""
    shown = decode_json_fields(row)
    try:
        metadata_values(shown, default_threshold)
        reason = None
    except InvalidModelMetadata as exc:
        reason = exc.message
    features = shown.get("features")
    if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
        shown["features"] = None
    phases = shown.get("phases")
    if phases is not None and (
        not isinstance(phases, list) or not all(isinstance(p, int) for p in phases)
    ):
        shown["phases"] = None
    if shown.get("params") is not None and not isinstance(shown.get("params"), dict):
        shown["params"] = None
    for key in ("feature_importance", "confusion_matrix", "cv_scores"):
        if shown.get(key) is not None and not isinstance(shown.get(key), dict | list):
            shown[key] = None
    shown["importable"] = reason is None
    shown["reason"] = reason
    return shown
