"""Model metadata, typed and checked once.

* :class:`ModelTarget` — what a model predicts and how it is fed, the part every model has;
* :class:`ModelSpec` — that with the model's name, read from a training-service ``ml_models``
  row (or an upload's metadata) by :func:`parse_spec`;
* :class:`AvailableModel` — an ``ml_models`` row as the list of importable models shows it,
  with the reason when it cannot be imported;
* :class:`ActiveModelRecord` — a row of our ``prediction_active_models``, built by the
  repository (``db/models_repo.py``) and passed everywhere else as this object.

The training service sometimes stores JSONB values as JSON *strings* holding the JSON
(``features`` = ``'"[\\"a\\", \\"b\\"]"'``); its own reader parsed such a string once, and so
do we (:func:`decode_json_fields`).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from ml_prediction_service.db.limits import INT32_MAX, PERCENT_LIMIT, TARGET_VALUE_LIMIT
from ml_prediction_service.features.errors import InvalidModelMetadataError
from ml_prediction_service.models.decision import DEFAULT_ALERT_THRESHOLD

SUPPORTED_TYPES = ("random_forest", "xgboost")
OPERATORS = (">", "<", ">=", "<=", "=")
DIRECTIONS = ("up", "down")
JSON_FIELDS = (
    "features",
    "phases",
    "params",
    "feature_importance",
    "confusion_matrix",
    "cv_scores",
)
SCORE_FIELDS = (
    "training_accuracy",
    "training_f1",
    "training_precision",
    "training_recall",
    "roc_auc",
    "mcc",
    "fpr",
    "fnr",
)
"""The test scores of an ``ml_models`` row (NUMERIC columns), in table order."""
TRAINING_METRIC_FIELDS = (
    *SCORE_FIELDS,
    "confusion_matrix",
    "cv_scores",
    "simulated_profit_pct",
    "feature_importance",
    "train_start",
    "train_end",
)

JsonObject = Mapping[str, Any]  # hyper-parameters and metrics: free-form JSON by contract


def decode_json_fields(row: Mapping[str, Any]) -> dict[str, Any]:
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


def _describe(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _names(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, list) and all(isinstance(f, str) for f in value):
        return tuple(value)
    return None


def _phase_ids(value: Any) -> tuple[int, ...] | None:
    if isinstance(value, list) and all(
        isinstance(p, int) and not isinstance(p, bool) for p in value
    ):
        return tuple(value)
    return None


def _optional_float(value: Any) -> float | None:
    return float(value) if value is not None else None


def _optional_int(value: Any) -> int | None:
    return int(value) if value is not None else None


def _number(field: str, value: Any, limit: float) -> float | None:
    """A finite number with ``|value| < limit``, or None; else what is wrong with it."""
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        number = None
    _require(
        number is not None and not isinstance(value, bool),
        f"{field!r} must be a number, not {_describe(value)}",
    )
    assert number is not None
    _require(
        number == number and abs(number) < limit,
        f"{field!r} is {value!r}; it must be a finite number below {limit:g} in magnitude",
    )
    return number


def _minutes(field: str, value: Any) -> int | None:
    if value is None:
        return None
    try:
        minutes = int(value)
    except (TypeError, ValueError, OverflowError):
        minutes = None
    _require(
        minutes is not None and not isinstance(value, bool) and 0 <= minutes <= INT32_MAX,
        f"{field!r} must be a whole number of minutes from 0 to {INT32_MAX}, "
        f"not {_describe(value)}",
    )
    assert minutes is not None
    return minutes


@dataclass(frozen=True)
class ModelTarget:
    """What a model predicts and which inputs it takes: the fields a :class:`ModelSpec` and
    an :class:`ActiveModelRecord` have in common."""

    model_type: str
    target_variable: str
    target_operator: str | None
    target_value: float | None
    future_minutes: int | None
    price_change_percent: float | None
    target_direction: str | None
    features: tuple[str, ...]
    phases: tuple[int, ...] | None
    params: JsonObject


@dataclass(frozen=True)
class ModelSpec(ModelTarget):
    """A model's :class:`ModelTarget` with its name, description and training metrics
    (shared by imports and uploads)."""

    name: str
    description: str | None = None
    training_metrics: JsonObject | None = None

    @property
    def time_based(self) -> bool:
        return self.target_operator is None


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise InvalidModelMetadataError(message)


def _identity(meta: Mapping[str, Any]) -> tuple[str, str, str, str | None]:
    name, model_type = meta.get("name"), meta.get("model_type")
    _require(
        isinstance(name, str) and bool(name.strip()), "model metadata needs a non-empty 'name'"
    )
    _require(
        model_type in SUPPORTED_TYPES,
        f"model_type {model_type!r} is not supported; use one of {list(SUPPORTED_TYPES)}",
    )
    target, operator = meta.get("target_variable"), meta.get("target_operator")
    _require(isinstance(target, str) and bool(target), "model metadata needs 'target_variable'")
    _require(
        operator is None or operator in OPERATORS,
        f"target_operator {operator!r} is not one of > < >= <= =",
    )
    return str(name).strip(), str(model_type), str(target), operator


def _time_based(params: JsonObject) -> JsonObject:
    tb = params.get("_time_based")
    return tb if isinstance(tb, dict) else {}


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def _training_metrics(meta: Mapping[str, Any]) -> dict[str, Any] | None:
    metrics = {k: meta[k] for k in TRAINING_METRIC_FIELDS if meta.get(k) is not None}
    for key in ("train_start", "train_end"):
        if key in metrics:
            metrics[key] = str(metrics[key])
    return metrics or None


def parse_spec(meta: Mapping[str, Any]) -> ModelSpec:
    """An ``ml_models`` row (or upload metadata) as a :class:`ModelSpec`;
    :class:`InvalidModelMetadataError` says precisely what cannot be read.

    Time-based fields come from the columns or, where those are NULL, from
    ``params._time_based`` (min_percent_change = price_change_percent).
    """
    meta = decode_json_fields(meta)
    name, model_type, target, operator = _identity(meta)
    features = _names(meta.get("features"))
    _require(
        features is not None,
        f"'features' must be a list of names, not {_describe(meta.get('features'))}",
    )
    params = meta.get("params")
    _require(
        params is None or isinstance(params, dict),
        f"'params' must be an object, not {_describe(params)}",
    )
    params = params or {}
    tb = _time_based(params)
    direction = _first(meta.get("target_direction"), tb.get("direction"))
    _require(
        direction is None or direction in DIRECTIONS,
        f"target_direction {direction!r} is not 'up' or 'down'",
    )
    phases = _phase_ids(meta.get("phases"))
    _require(
        meta.get("phases") is None or phases is not None,
        f"'phases' must be a list of phase ids or null, not {_describe(meta.get('phases'))}",
    )
    return ModelSpec(
        name=name,
        model_type=model_type,
        target_variable=target,
        target_operator=operator,
        target_value=_number("target_value", meta.get("target_value"), TARGET_VALUE_LIMIT),
        future_minutes=_minutes(
            "future_minutes", _first(meta.get("future_minutes"), tb.get("future_minutes"))
        ),
        price_change_percent=_number(
            "price_change_percent",
            _first(meta.get("price_change_percent"), tb.get("min_percent_change")),
            PERCENT_LIMIT,
        ),
        target_direction=direction,
        features=features or (),
        phases=phases,
        params=params,
        description=meta.get("description"),
        training_metrics=_training_metrics(meta),
    )


@dataclass(frozen=True)
class AvailableModel:
    """An ``ml_models`` row for the list of importable models: what could be read of it, and
    ``reason`` why it cannot be imported (None: it can)."""

    row: JsonObject  # every column as read (unreadable JSON fields set to None)
    reason: str | None
    active_model_id: int | None

    @property
    def importable(self) -> bool:
        return self.reason is None and self.active_model_id is None


def available_model(row: Mapping[str, Any]) -> AvailableModel:
    shown = decode_json_fields(row)
    try:
        parse_spec(shown)
        reason = None
    except InvalidModelMetadataError as exc:
        reason = exc.message
    if shown.get("features") is not None and _names(shown.get("features")) is None:
        shown["features"] = None
    if shown.get("phases") is not None and _phase_ids(shown.get("phases")) is None:
        shown["phases"] = None
    for key in ("params", "feature_importance", "confusion_matrix", "cv_scores"):
        if shown.get(key) is not None and not isinstance(shown[key], dict | list):
            shown[key] = None
    if shown.get("params") is not None and not isinstance(shown["params"], dict):
        shown["params"] = None
    active = shown.pop("active_model_id", None)
    return AvailableModel(shown, reason, int(active) if active is not None else None)


# Columns the pipeline itself keeps moving: a change in them is not a change of the model.
COUNTER_FIELDS = frozenset({"total_predictions", "last_prediction_at"})


@dataclass(frozen=True)
class ActiveModelRecord(ModelTarget):
    """A row of ``prediction_active_models`` (the model's target and inputs, see
    :class:`ModelTarget`, and what this service keeps about it)."""

    id: int
    model_id: int
    model_name: str
    custom_name: str | None
    local_model_path: str
    model_file_url: str | None
    is_active: bool
    last_prediction_at: datetime | None
    total_predictions: int
    downloaded_at: datetime | None
    activated_at: datetime | None
    created_at: datetime | None
    updated_at: datetime | None
    alert_threshold: float
    model_sha256: str | None
    model_file_size: int | None
    source: str
    description: str | None
    training_metrics: JsonObject | None
    webhook_url: str | None
    webhook_enabled: bool
    webhook_send_mode: tuple[str, ...]
    model_library: str | None
    model_library_version: str | None
    ignore_alert_seconds: int = 0
    ignore_positive_seconds: int = 0
    ignore_negative_seconds: int = 0
    coin_filter_mode: str = "all"  # all / whitelist / blacklist
    coin_filter: tuple[str, ...] = ()

    @functools.cached_property
    def coin_set(self) -> frozenset[str]:
        return frozenset(self.coin_filter)

    def serves_coin(self, mint: str) -> bool:
        """Whether the coin filter lets this model predict the coin."""
        if self.coin_filter_mode == "whitelist":
            return mint in self.coin_set
        if self.coin_filter_mode == "blacklist":
            return mint not in self.coin_set
        return True

    def ignore_seconds(self, tag: str) -> int:
        """The ignore window of a tag (0: off)."""
        return int(getattr(self, f"ignore_{tag}_seconds"))

    @property
    def name(self) -> str:
        """The display name: the custom name if set, else the model's own."""
        return self.custom_name or self.model_name

    @property
    def spec(self) -> ModelSpec:
        target = {f.name: getattr(self, f.name) for f in fields(ModelTarget)}
        return ModelSpec(
            **target,
            name=self.model_name,
            description=self.description,
            training_metrics=self.training_metrics,
        )

    def settings(self) -> tuple[Any, ...]:
        """Everything but the moving counters (what makes a change of the model)."""
        return tuple(
            _hashable(getattr(self, f.name)) for f in fields(self) if f.name not in COUNTER_FIELDS
        )

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> ActiveModelRecord:
        """From a database row (NUMERIC already float, JSONB already decoded)."""
        return cls(
            id=int(row["id"]),
            model_id=int(row["model_id"]),
            model_name=str(row["model_name"]),
            custom_name=row["custom_name"],
            model_type=str(row["model_type"]),
            target_variable=str(row["target_variable"]),
            target_operator=row["target_operator"],
            target_value=_optional_float(row["target_value"]),
            future_minutes=_optional_int(row["future_minutes"]),
            price_change_percent=_optional_float(row["price_change_percent"]),
            target_direction=row["target_direction"],
            features=tuple(row["features"] or ()),
            phases=tuple(row["phases"]) if row["phases"] else None,
            params=dict(row["params"] or {}),
            local_model_path=str(row["local_model_path"]),
            model_file_url=row["model_file_url"],
            is_active=bool(row["is_active"]),
            last_prediction_at=row["last_prediction_at"],
            total_predictions=int(row["total_predictions"] or 0),
            downloaded_at=row["downloaded_at"],
            activated_at=row["activated_at"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            alert_threshold=float(
                row["alert_threshold"]
                if row["alert_threshold"] is not None
                else DEFAULT_ALERT_THRESHOLD
            ),
            model_sha256=row["model_sha256"],
            model_file_size=_optional_int(row["model_file_size"]),
            source=str(row["source"]),
            description=row["description"],
            training_metrics=row["training_metrics"],
            webhook_url=row["webhook_url"],
            webhook_enabled=bool(row["webhook_enabled"]),
            webhook_send_mode=tuple(row["webhook_send_mode"] or ("all",)),
            model_library=row["model_library"],
            model_library_version=row["model_library_version"],
            ignore_alert_seconds=int(row["ignore_alert_seconds"]),
            ignore_positive_seconds=int(row["ignore_positive_seconds"]),
            ignore_negative_seconds=int(row["ignore_negative_seconds"]),
            coin_filter_mode=str(row["coin_filter_mode"]),
            coin_filter=tuple(row["coin_filter"] or ()),
        )


def _hashable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return json.dumps(value, sort_keys=True, default=str)
    return value
