"""Features and predictions for a whole batch: one ``predict_proba`` per model per batch.

Pure CPU work (numpy + model runtimes), run in a worker thread. One failing model is
recorded and skipped; the other models and coins go on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from ml_prediction_service.features import (
    BASE_COLUMNS,
    combine,
    compute_batch_features,
    input_positions,
    snapshot_base_values,
)
from ml_prediction_service.models.decision import Decisions, decide
from ml_prediction_service.models.explain import Reason, explain_served, top_reasons
from ml_prediction_service.models.registry import ActiveModel
from ml_prediction_service.models.runtime import ONNX_TOLERANCE, probability_problem
from ml_prediction_service.pipeline.history import BatchInputs

logger = logging.getLogger(__name__)

FloatArray = NDArray[np.float64]

# How far the probability that an alert's contributions add up to may be from the one served
# (the served runtime may differ from the model's library by up to ONNX_TOLERANCE).
REASONS_TOLERANCE = 10 * ONNX_TOLERANCE


@dataclass(frozen=True, slots=True)
class PredictionRow:
    coin: int  # index into BatchInputs.snapshots
    model: ActiveModel
    prediction: int
    probability: float
    is_alert: bool


@dataclass(frozen=True, slots=True)
class Skip:
    coin: int
    model_id: int | None
    reason: str  # a stable key, e.g. "too_little_history"
    detail: str


@dataclass(frozen=True, slots=True)
class ModelResult:
    """One model's predictions for a batch, as arrays (no per-prediction objects)."""

    model: ActiveModel
    coins: NDArray[np.int64]  # indices into BatchInputs.snapshots
    decisions: Decisions  # stored probability, prediction, is_alert (models/decision.py)
    # alerts only: row index (into coins) -> the features that pushed the probability up most
    reasons: dict[int, list[Reason]] = field(default_factory=dict)

    @property
    def alerts(self) -> NDArray[np.bool_]:
        return self.decisions.is_alert


@dataclass
class BatchOutcome:
    results: list[ModelResult] = field(default_factory=list)
    skips: list[Skip] = field(default_factory=list)
    model_errors: dict[int, str] = field(default_factory=dict)
    explain_errors: dict[int, str] = field(default_factory=dict)  # model id -> why no reasons
    feature_seconds: float = 0.0
    predict_seconds: float = 0.0
    reasons_seconds: float = 0.0  # part of predict_seconds
    features_by_coin: dict[int, dict[str, float]] = field(default_factory=dict)

    def rows(self) -> list[PredictionRow]:
        """Every prediction as an object (for small batches, e.g. a manual prediction)."""
        return [
            PredictionRow(int(coin), r.model, int(pred), p, bool(alert))
            for r in self.results
            for coin, p, pred, alert in zip(
                r.coins.tolist(),
                r.decisions.raw.tolist(),
                r.decisions.prediction.tolist(),
                r.decisions.is_alert.tolist(),
                strict=True,
            )
        ]


def predict_batch(
    inputs: BatchInputs,
    models: Sequence[ActiveModel],
    *,
    min_history_rows: int,
    keep_features: bool = False,
    alert_reasons: int = 0,
    exact_reasons: bool = False,
) -> BatchOutcome:
    """Predict every eligible (coin, model) pair of the batch; with ``alert_reasons`` > 0,
    explain each alert by that many features (``ModelResult.reasons``; ``exact_reasons``:
    exact tree SHAP for XGBoost instead of tree-path contributions)."""
    out = BatchOutcome()
    n = len(inputs.snapshots)
    usable = np.ones(n, dtype=bool)
    for i in inputs.snapshot_missing:
        usable[i] = False
        out.skips.append(
            Skip(
                i,
                None,
                "snapshot_not_history",
                "the snapshot's price_close, price_high or volume_sol is NULL",
            )
        )
    short = usable & (inputs.history_rows < min_history_rows)
    for j in np.flatnonzero(short).tolist():
        out.skips.append(
            Skip(
                j,
                None,
                "too_little_history",
                f"{int(inputs.history_rows[j])} history rows < MIN_HISTORY_ROWS {min_history_rows}",
            )
        )
    usable &= ~short
    coins: NDArray[np.int64] = np.flatnonzero(usable).astype(np.int64)
    if not len(coins) or not models:
        return out

    started = time.perf_counter()
    tail = inputs.tail.take(coins)
    prefix = inputs.prefix.take(coins)
    base = snapshot_base_values(tail, BASE_COLUMNS)
    # [base | engineered features] once per window set; each model takes its columns from it
    engineered: dict[tuple[int, ...], tuple[FloatArray, list[str]]] = {}
    for model in models:
        assert model.loaded is not None
        windows = model.loaded.window_sizes
        if windows not in engineered:
            features, names = compute_batch_features(tail, prefix, windows)
            engineered[windows] = (combine(features, base), names)
    out.feature_seconds = time.perf_counter() - started

    phases = np.array(
        [s.phase_id if s.phase_id is not None else -1 for s in inputs.snapshots], dtype=np.int64
    )[coins]
    mints: list[str] | None = None  # made when a model filters coins
    started = time.perf_counter()
    for model in models:
        loaded = model.loaded
        assert loaded is not None
        eligible = np.ones(len(coins), dtype=bool)
        if model.phases is not None:
            eligible = np.isin(phases, np.asarray(model.phases, dtype=np.int64))
        if model.record.coin_filter_mode != "all":
            if mints is None:
                mints = [inputs.snapshots[int(i)].mint for i in coins]
            serves = model.record.serves_coin
            eligible &= np.fromiter((serves(m) for m in mints), dtype=bool, count=len(mints))
        if not eligible.any():
            continue
        matrix, names = engineered[loaded.window_sizes]
        try:
            columns = input_positions(loaded.input_columns, names, BASE_COLUMNS)
            rows = matrix if eligible.all() else matrix[eligible]
            x = np.ascontiguousarray(rows[:, columns])
            probabilities = loaded.runtime.predict_proba(x)
            if probabilities.shape != (x.shape[0],):
                raise ValueError(f"model returned shape {probabilities.shape} for {x.shape}")
            problem = probability_problem(probabilities, columns=1)
            if problem is not None:
                raise ValueError(f"model returned no probabilities ({problem})")
        except Exception as exc:
            out.model_errors[model.id] = f"{type(exc).__name__}: {exc}"
            logger.warning(
                "model %s (%s) failed on a batch of %d coins: %s",
                model.id,
                model.name,
                int(eligible.sum()),
                exc,
            )
            continue
        local = np.flatnonzero(eligible)
        decisions = decide(probabilities, model.alert_threshold)
        reasons: dict[int, list[Reason]] = {}
        if alert_reasons > 0 and decisions.is_alert.any():
            reasons = _explain(out, model, x, decisions, alert_reasons, exact_reasons)
        out.results.append(ModelResult(model, coins[local], decisions, reasons))
        if keep_features:
            for row, j in enumerate(local.tolist()):
                out.features_by_coin.setdefault(int(coins[j]), {}).update(
                    zip(loaded.input_columns, x[row].tolist(), strict=True)
                )
    out.predict_seconds = time.perf_counter() - started
    return out


def _explain(
    out: BatchOutcome,
    model: ActiveModel,
    x: FloatArray,
    decisions: Decisions,
    count: int,
    exact: bool = False,
) -> dict[int, list[Reason]]:
    """Reasons of a model's alert rows; a failure is recorded (``explain_errors``) and leaves
    them without reasons: the predictions are stored and sent all the same."""
    loaded = model.loaded
    assert loaded is not None
    started = time.perf_counter()
    rows = np.flatnonzero(decisions.is_alert)
    try:
        alerts = x[rows]
        served = decisions.raw[rows]
        contributions = explain_served(
            loaded.explainer, alerts, served, REASONS_TOLERANCE, exact=exact
        )
        found = top_reasons(contributions, alerts, loaded.input_columns, count)
    except Exception as exc:  # explaining never stops a prediction
        out.explain_errors[model.id] = f"{type(exc).__name__}: {exc}"
        logger.warning(
            "model %s (%s): %d alert(s) stored without reasons, explaining failed: %s",
            model.id,
            model.name,
            len(rows),
            exc,
        )
        return {}
    finally:
        out.reasons_seconds += time.perf_counter() - started
    return dict(zip(rows.tolist(), found, strict=True))
