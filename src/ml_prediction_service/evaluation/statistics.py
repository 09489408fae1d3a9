"""Live model quality: the figures of a model's evaluation rows (docs/evaluation.md, "Live
model quality"). The same figures for live rows (``prediction_evaluations`` of an active model,
in a window) and for a replay's rows (``prediction_replay_evaluations``); the SQL is in
``db/statistics_repo.py``, here it becomes a :class:`ModelStatistics`."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ml_prediction_service.db import models_repo, statistics_repo
from ml_prediction_service.db.pool import Executor
from ml_prediction_service.errors import NotFoundError, ServiceError
from ml_prediction_service.models.metadata import ActiveModelRecord

WINDOWS: dict[str, timedelta | None] = {
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "all": None,
}
"""The windows on ``data_timestamp``, relative to now (``all``: no bound)."""
BUCKETS = {"1h": "hour", "24h": "hour", "all": "day"}
"""The precision-over-time bucket of each window."""
CALIBRATION_BINS = 10

NOT_EVALUABLE = "rule-based model without a horizon: a nowcast, nothing to evaluate later"

# training_metrics keys shown beside the live figures (feature_importance is left out: it is
# a per-feature table, not a quality figure)
_TRAINING_LEFT_OUT = ("feature_importance",)


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass(frozen=True)
class CalibrationBin:
    """Evaluated rows whose predicted probability is in ``[lower, upper)`` (the last bin
    includes 1.0): how many, their mean probability and how often the target was hit."""

    lower: float
    upper: float
    count: int
    mean_probability: float | None
    observed_frequency: float | None


@dataclass(frozen=True)
class PrecisionPoint:
    """Evaluated rows of one hour or day (``start``, UTC): alerts, those that came true."""

    start: datetime
    evaluated: int
    alerts: int
    alerts_true: int
    precision: float | None


@dataclass(frozen=True)
class ModelStatistics:
    """Live (or replayed) quality of one model. Counts and shares exclude rows whose result
    is ``not_applicable`` (counted in ``not_applicable``); a share is None when its
    denominator is 0."""

    active_model_id: int
    model_id: int
    name: str
    source: str  # "live" (prediction_evaluations) or "replay"
    replay_id: int | None
    window: str  # 1h / 24h / all (a replay: all)
    bucket: str  # hour / day: the precision_over_time step
    evaluable: bool
    reason: str | None
    # the model's label and decision
    alert_threshold: float
    future_minutes: int | None
    target_direction: str | None
    price_change_percent: float | None
    target_variable: str
    target_operator: str | None
    target_value: float | None
    # the figures
    evaluated: int = 0
    not_applicable: int = 0
    alerts: int = 0
    alerts_true: int = 0
    alert_precision: float | None = None
    positives: int = 0
    positives_hit: int = 0
    positive_hit_rate: float | None = None
    targets_hit: int = 0
    base_rate: float | None = None
    mean_move_after_alert: float | None = None
    successes: int = 0
    accuracy: float | None = None
    calibration: tuple[CalibrationBin, ...] = ()
    precision_over_time: tuple[PrecisionPoint, ...] = ()
    # beside them: what training measured (copied at import), and its base rate
    training_metrics: dict[str, Any] = field(default_factory=dict)
    training_base_rate: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (times as ISO 8601 strings): for the API and ``prediction_replays``."""
        out = dataclasses.asdict(self)
        out["precision_over_time"] = [
            {**p, "start": p["start"].isoformat()} for p in out["precision_over_time"]
        ]
        return out


def empty_calibration() -> tuple[CalibrationBin, ...]:
    return tuple(
        CalibrationBin(k / CALIBRATION_BINS, (k + 1) / CALIBRATION_BINS, 0, None, None)
        for k in range(CALIBRATION_BINS)
    )


def training_figures(model: ActiveModelRecord) -> tuple[dict[str, Any], float | None]:
    """The model's training metrics as stored at import (without feature importance) and the
    share of positives in its test set, from the confusion matrix (None without one)."""
    metrics = {
        k: v for k, v in (model.training_metrics or {}).items() if k not in _TRAINING_LEFT_OUT
    }
    matrix = metrics.get("confusion_matrix")
    if not isinstance(matrix, dict):
        return metrics, None
    try:
        tp, fn, tn, fp = (float(matrix[k]) for k in ("tp", "fn", "tn", "fp"))
    except (KeyError, TypeError, ValueError):
        return metrics, None
    total = tp + fn + tn + fp
    return metrics, (tp + fn) / total if total > 0 else None


def _model_fields(model: ActiveModelRecord) -> dict[str, Any]:
    training, training_base_rate = training_figures(model)
    evaluable = model.future_minutes is not None and model.future_minutes > 0
    return {
        "active_model_id": model.id,
        "model_id": model.model_id,
        "name": model.name,
        "evaluable": evaluable,
        "reason": None if evaluable else NOT_EVALUABLE,
        "alert_threshold": model.alert_threshold,
        "future_minutes": model.future_minutes,
        "target_direction": model.target_direction,
        "price_change_percent": model.price_change_percent,
        "target_variable": model.target_variable,
        "target_operator": model.target_operator,
        "target_value": model.target_value,
        "training_metrics": training,
        "training_base_rate": training_base_rate,
    }


def _totals(row: dict[str, Any]) -> dict[str, Any]:
    """The headline counts of a statistics row and the shares made of them."""
    evaluated, alerts, positives = int(row["evaluated"]), int(row["alerts"]), int(row["positives"])
    alerts_true, positives_hit = int(row["alerts_true"]), int(row["positives_hit"])
    targets_hit, successes = int(row["targets_hit"]), int(row["successes"])
    move = row["mean_move_after_alert"]
    return {
        "evaluated": evaluated,
        "not_applicable": int(row["not_applicable"]),
        "alerts": alerts,
        "alerts_true": alerts_true,
        "alert_precision": _ratio(alerts_true, alerts),
        "positives": positives,
        "positives_hit": positives_hit,
        "positive_hit_rate": _ratio(positives_hit, positives),
        "targets_hit": targets_hit,
        "base_rate": _ratio(targets_hit, evaluated),
        "mean_move_after_alert": float(move) if move is not None else None,
        "successes": successes,
        "accuracy": _ratio(successes, evaluated),
    }


def _calibration(found: list[dict[str, Any]]) -> tuple[CalibrationBin, ...]:
    by_bin = {int(b["bin"]): b for b in found}
    bins = []
    for empty in empty_calibration():
        b = by_bin.get(round(empty.lower * CALIBRATION_BINS))
        if b is None:
            bins.append(empty)
        else:
            bins.append(
                dataclasses.replace(
                    empty,
                    count=int(b["count"]),
                    mean_probability=float(b["mean_probability"]),
                    observed_frequency=float(b["observed_frequency"]),
                )
            )
    return tuple(bins)


def _over_time(found: list[dict[str, Any]]) -> tuple[PrecisionPoint, ...]:
    return tuple(
        PrecisionPoint(
            start=datetime.fromtimestamp(float(p["start"]), UTC),
            evaluated=int(p["evaluated"]),
            alerts=int(p["alerts"]),
            alerts_true=int(p["alerts_true"]),
            precision=_ratio(int(p["alerts_true"]), int(p["alerts"])),
        )
        for p in found
    )


def check_window(window: str) -> timedelta | None:
    if window not in WINDOWS:
        raise ServiceError(
            f"unknown window {window!r}: use one of {', '.join(WINDOWS)}",
            code="validation_error",
            status=422,
        )
    return WINDOWS[window]


async def model_statistics(
    conn: Executor,
    *,
    active_model_id: int | None = None,
    replay_id: int | None = None,
    window: str = "all",
    bucket: str | None = None,
) -> ModelStatistics:
    """The statistics of an active model's live evaluations in ``window`` (``1h``, ``24h``,
    ``all``), or of a replay's evaluations (``replay_id``; no window). ``bucket`` (``hour`` /
    ``day``) overrides the window's precision-over-time step. :class:`NotFoundError` for an
    unknown model or replay; a model without a horizon gets ``evaluable`` false and empty
    figures."""
    if (active_model_id is None) == (replay_id is None):
        raise ValueError("give exactly one of active_model_id and replay_id")
    interval = check_window(window)
    if bucket is not None and bucket not in ("hour", "day"):
        raise ValueError(f"bucket must be 'hour' or 'day', not {bucket!r}")
    if replay_id is not None:
        if interval is not None:
            raise ServiceError(
                "a replay's statistics cover the whole replay: window must be 'all'",
                code="validation_error",
                status=422,
            )
        model = await statistics_repo.model_for_replay(conn, replay_id)
        if model is None:
            raise NotFoundError(f"no replay with id {replay_id}")
    else:
        assert active_model_id is not None
        model = await models_repo.get_active_model(conn, active_model_id)
        if model is None:
            raise NotFoundError(f"no imported model with id {active_model_id}")
    step = bucket or BUCKETS[window]
    fields = _model_fields(model)
    source: dict[str, Any] = {
        "source": "live" if replay_id is None else "replay",
        "replay_id": replay_id,
        "window": window,
        "bucket": step,
    }
    if not fields["evaluable"]:
        return ModelStatistics(**fields, **source, calibration=empty_calibration())
    row = await statistics_repo.model_statistics(
        conn,
        active_model_id=active_model_id,
        replay_id=replay_id,
        window=interval,
        bucket=step,
    )
    return ModelStatistics(
        **fields,
        **source,
        **_totals(row),
        calibration=_calibration(row["calibration"]),
        precision_over_time=_over_time(row["over_time"]),
    )


@dataclass(frozen=True)
class ModelSummary:
    """One model's headline figures, for all models side by side."""

    active_model_id: int
    model_id: int
    name: str
    is_active: bool
    evaluable: bool
    reason: str | None
    alert_threshold: float
    future_minutes: int | None
    evaluated: int
    not_applicable: int
    alerts: int
    alerts_true: int
    alert_precision: float | None
    positive_hit_rate: float | None
    base_rate: float | None
    mean_move_after_alert: float | None
    accuracy: float | None
    training_precision: float | None
    training_base_rate: float | None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_SUMMARY_FIELDS = tuple(f.name for f in dataclasses.fields(ModelSummary))


async def all_model_statistics(conn: Executor, *, window: str = "all") -> list[ModelSummary]:
    """Every imported model (active or not), its headline figures in ``window``."""
    interval = check_window(window)
    out = []
    for model, row in await statistics_repo.model_summaries(conn, window=interval):
        fields = _model_fields(model)
        totals = _totals(row)
        if not fields["evaluable"]:
            totals = _totals(_NO_ROWS)
        precision = fields["training_metrics"].get("training_precision")
        if not isinstance(precision, int | float) or isinstance(precision, bool):
            precision = None
        values = {
            **fields,
            **totals,
            "is_active": model.is_active,
            "training_precision": float(precision) if precision is not None else None,
        }
        out.append(ModelSummary(**{k: values[k] for k in _SUMMARY_FIELDS}))
    return out


_NO_ROWS: dict[str, Any] = {
    "evaluated": 0,
    "not_applicable": 0,
    "alerts": 0,
    "alerts_true": 0,
    "positives": 0,
    "positives_hit": 0,
    "targets_hit": 0,
    "successes": 0,
    "mean_move_after_alert": None,
}
