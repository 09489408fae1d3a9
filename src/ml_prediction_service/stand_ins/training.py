"""Demo trainer: trains models the way the training service does.

Two ways to fit, with the same labels, split and hyper-parameters:

* **pinned** (``python=`` an interpreter of the training service's pinned environment,
  ``training_env.py``): the history goes to ``training_side.py`` under scikit-learn
  1.3.2 / xgboost 2.0.2 / pandas 2.1.3, which computes the features with the training
  service's own pandas code, fits and dumps the model with *its* joblib. The file is what the
  real training service would hand out, so serving it exercises the compatibility path.
* **current** (default): features from this project's feature module and this
  interpreter's libraries (fast, no extra environment).

The estimator is a bare ``RandomForestClassifier`` or ``XGBClassifier`` fitted on a plain
numpy array (no feature names), saved with ``joblib.dump``, and recorded in ``ml_models``
(TRAINING -> READY) with ``features`` in the exact column order the estimator saw.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import asyncpg
import joblib
import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ml_prediction_service.db import metrics_repo, ml_models_repo
from ml_prediction_service.features import (
    BASE_COLUMNS,
    DEFAULT_WINDOW_SIZES,
    HISTORY_KEY_COLUMNS,
    create_pump_detection_features,
    get_engineered_feature_names,
)
from ml_prediction_service.stand_ins.labels import RuleTarget, TimeTarget, rule_labels, time_labels
from ml_prediction_service.stand_ins.metrics import classification_metrics
from ml_prediction_service.stand_ins.ml_models import (
    ModelRecord,
    insert_training,
    mark_failed,
    mark_ready,
)
from ml_prediction_service.stand_ins.simulator import METRIC_COLUMNS, SimConfig
from ml_prediction_service.stand_ins.stream import simulate_frame
from ml_prediction_service.stand_ins.training_side import library_versions

ModelType = Literal["random_forest", "xgboost"]
TargetKind = Literal["rule", "time"]
MODEL_TYPES: tuple[ModelType, ...] = ("random_forest", "xgboost")
TARGET_KINDS: tuple[TargetKind, ...] = ("rule", "time")

# Base features of demo models: every base column except the identifiers' companions that
# carry no signal for the demo (phase id) - in BASE_COLUMNS order.
DEMO_BASE_FEATURES: tuple[str, ...] = tuple(c for c in BASE_COLUMNS if c != "phase_id_at_time")
ATH_FEATURES: tuple[str, ...] = ("rolling_ath", "ath_distance_pct", "minutes_since_ath")
MAX_DB_ROWS = 300_000


class TrainingError(RuntimeError):
    """Training could not produce a usable model (message for people)."""


@dataclass(frozen=True)
class TrainingSet:
    """What the estimator is fitted on."""

    features: list[str]  # stored in ml_models.features (order kept)
    inputs: list[str]  # the estimator's columns, in order
    x: NDArray[np.float64]
    y: NDArray[np.int64]
    coins: NDArray[np.int64]
    train_start: datetime
    train_end: datetime
    rows: pd.Index  # the history's index labels of these rows, in (mint, timestamp) order


def simulated_history(n_coins: int, seed: int, *, max_age_minutes: int = 120) -> pd.DataFrame:
    """A small simulated history (all coins launch within one hour, lives capped)."""
    config = SimConfig(
        n_coins=n_coins,
        seed=seed,
        launch_span_seconds=3600.0,
        null_fraction=0.002,
        max_age_minutes=max_age_minutes,
    )
    return simulate_frame(config)


async def db_history(conn: asyncpg.Connection, max_rows: int = MAX_DB_ROWS) -> pd.DataFrame:
    """The newest ``max_rows`` rows of ``coin_metrics`` (NUMERIC read as float8)."""
    rows = await metrics_repo.newest_rows(conn, max_rows)
    frame = pd.DataFrame([dict(r) for r in rows], columns=["mint", "timestamp", *METRIC_COLUMNS])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    return frame


def build_training_set(
    history: pd.DataFrame,
    target: RuleTarget | TimeTarget,
    *,
    windows: tuple[int, ...] = DEFAULT_WINDOW_SIZES,
    time_target_in_features: bool = False,
) -> TrainingSet:
    """Labels plus the project's engineered features, as one numpy matrix.

    ``time_target_in_features`` reproduces a habit of the training service: a time-based
    model lists its target variable among ``features`` although the estimator never sees it.
    """
    keep = history[list(HISTORY_KEY_COLUMNS)].notna().all(axis=1)
    frame = history.loc[keep].sort_values(["mint", "timestamp"], kind="stable")
    if frame.empty:
        raise TrainingError("no usable coin_metrics rows to train on")
    if isinstance(target, RuleTarget):
        labels = rule_labels(frame, target)
    else:
        labels = time_labels(frame, target)
    engineered = create_pump_detection_features(frame, windows)
    base = [c for c in DEMO_BASE_FEATURES if c != target.variable]
    inputs = base + list(ATH_FEATURES) + get_engineered_feature_names(windows)
    features = list(inputs)
    if isinstance(target, TimeTarget) and time_target_in_features:
        features.insert(list(DEMO_BASE_FEATURES).index(target.variable), target.variable)
    labels = labels.reindex(engineered.index)
    usable = labels.notna().to_numpy()
    data = engineered.loc[usable, inputs].apply(pd.to_numeric, errors="coerce")
    x = np.nan_to_num(data.to_numpy(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    stamps = pd.DatetimeIndex(engineered.loc[usable, "timestamp"])
    return TrainingSet(
        features=features,
        inputs=inputs,
        x=x,
        y=labels.to_numpy()[usable].astype(np.int64),
        coins=pd.factorize(engineered.loc[usable, "mint"])[0].astype(np.int64),
        train_start=stamps.min().to_pydatetime(),
        train_end=stamps.max().to_pydatetime(),
        rows=engineered.index[usable],
    )


def make_estimator(model_type: ModelType, seed: int) -> tuple[Any, dict[str, Any]]:
    """A small, single-threaded estimator and its hyper-parameters."""
    if model_type == "random_forest":
        from sklearn.ensemble import RandomForestClassifier

        params: dict[str, Any] = {
            "n_estimators": 25,
            "max_depth": 8,
            "min_samples_leaf": 5,
            "class_weight": "balanced",
            "random_state": seed,
            "n_jobs": 1,
        }
        return RandomForestClassifier(**params), params
    if model_type == "xgboost":
        from xgboost import XGBClassifier

        params = {
            "n_estimators": 40,
            "max_depth": 4,
            "learning_rate": 0.15,
            "subsample": 0.9,
            "tree_method": "hist",
            "eval_metric": "logloss",
            "random_state": seed,
            "n_jobs": 1,
        }
        return XGBClassifier(**params), params
    raise TrainingError(f"unsupported model type {model_type!r} (random_forest, xgboost)")


def _test_coins(data: TrainingSet, seed: int) -> NDArray[np.int64]:
    """A quarter of the coins with positives and a quarter of the others (stratified)."""
    rng = np.random.default_rng([seed, 7])
    with_positives = np.unique(data.coins[data.y == 1])
    without = np.setdiff1d(np.unique(data.coins), with_positives)
    chosen = [
        rng.permutation(group)[: max(1, len(group) // 4)]
        for group in (with_positives, without)
        if len(group) >= 2
    ]
    return np.concatenate(chosen) if chosen else np.empty(0, dtype=np.int64)


def fit_and_evaluate(
    data: TrainingSet, model_type: ModelType, seed: int
) -> tuple[Any, dict[str, Any], dict[str, float | None], dict[str, int]]:
    """Split by coin (75/25), fit, evaluate on the held-out coins."""
    test = _split(data, seed)
    train = ~test
    if len(np.unique(data.y[train])) < 2:
        train = np.ones_like(test)  # tiny data: fit on everything rather than fail
    estimator, params = make_estimator(model_type, seed)
    estimator.fit(data.x[train], data.y[train])
    evaluation = test if test.any() else train
    proba = np.asarray(estimator.predict_proba(data.x[evaluation]))[:, 1]
    metrics, confusion = classification_metrics(data.y[evaluation], proba)
    return estimator, params, metrics, confusion


TRAINING_SIDE = Path(__file__).with_name("training_side.py")
PINNED_TIMEOUT_SECONDS = 900.0


@dataclass(frozen=True)
class Fitted:
    """What a fit produced: the model file, held-out metrics, importances, libraries."""

    metrics: dict[str, float | None]
    confusion: dict[str, int]
    importances: list[float]
    libraries: dict[str, str]


def _split(data: TrainingSet, seed: int) -> NDArray[np.bool_]:
    """True for held-out rows: a quarter of the coins (stratified by having positives)."""
    if len(np.unique(data.y)) < 2:
        raise TrainingError(
            f"the labels have one class only ({int(data.y[0]) if len(data.y) else '-'}); "
            "use more coins or another target"
        )
    return np.isin(data.coins, _test_coins(data, seed))


def fit_pinned(
    history: pd.DataFrame,
    data: TrainingSet,
    model_type: ModelType,
    seed: int,
    windows: tuple[int, ...],
    python: Path,
    model_out: Path,
) -> Fitted:
    """Fit under the pinned environment (``training_side.py train``), same split and labels.

    ``data`` must come from :func:`build_training_set` on ``history`` (its rows, in order,
    are the kept history rows with a label)."""
    test = _split(data, seed)
    if not test.any() or len(np.unique(data.y[~test])) < 2:
        raise TrainingError("too little data to hold out coins with both classes left to fit")
    # the whole history (features need every row), labelled and split where it is used
    frame = history.copy()
    frame["label"] = pd.Series(data.y, index=data.rows).reindex(frame.index)
    frame["split"] = pd.Series(np.where(test, "test", "train"), index=data.rows).reindex(
        frame.index, fill_value=""
    )
    frame = frame.sort_values(["mint", "timestamp"], kind="stable")
    stamps = pd.DatetimeIndex(pd.to_datetime(frame["timestamp"], utc=True))
    frame["timestamp"] = stamps.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
    _, params = make_estimator(model_type, seed)
    spec = {
        "model_type": model_type,
        "params": params,
        "inputs": data.inputs,
        "windows": list(windows),
    }
    with tempfile.TemporaryDirectory(prefix="train-pinned-") as tmp:
        folder = Path(tmp)
        frame.to_csv(folder / "history.csv", index=False, float_format="%.17g")
        (folder / "spec.json").write_text(json.dumps(spec))
        command = [
            str(python),
            str(TRAINING_SIDE),
            "train",
            "--input",
            str(folder / "history.csv"),
            "--spec",
            str(folder / "spec.json"),
            "--model-out",
            str(model_out),
            "--result",
            str(folder / "result.json"),
        ]
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=PINNED_TIMEOUT_SECONDS, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise TrainingError(f"the pinned training environment failed: {exc}") from exc
        if done.returncode != 0:
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-8:])
            raise TrainingError(f"training under the pinned versions failed:\n{tail}")
        result = json.loads((folder / "result.json").read_text())
    proba = np.asarray(result["test_proba"], dtype=np.float64)
    if len(proba) != int(test.sum()):
        raise TrainingError(f"the pinned side scored {len(proba)} rows, expected {test.sum()}")
    metrics, confusion = classification_metrics(data.y[test], proba)
    return Fitted(
        metrics, confusion, list(result["feature_importances"]), dict(result["libraries"])
    )


def _file_name(model_type: str, model_id: int, name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._")[:80] or "model"
    return f"{model_type}_{model_id}_{slug}.pkl"


def _dump(estimator: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    joblib.dump(estimator, tmp)
    os.replace(tmp, path)


def default_name(model_type: str, target: str, seed: int) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return f"demo_{model_type}_{target}_s{seed}_{stamp}"


async def train_demo_model(
    conn: asyncpg.Connection,
    models_dir: Path,
    model_type: ModelType = "random_forest",
    target: TargetKind = "rule",
    name: str | None = None,
    seed: int = 42,
    *,
    n_coins: int = 40,
    history: pd.DataFrame | None = None,
    windows: tuple[int, ...] = DEFAULT_WINDOW_SIZES,
    rule: RuleTarget | None = None,
    time_target: TimeTarget | None = None,
    time_target_in_features: bool = False,
    python: Path | None = None,
) -> dict[str, Any]:
    """Train one demo model, save it under ``models_dir``, record it READY in ``ml_models``.

    ``history`` (a coin_metrics-like frame) defaults to a simulation of ``n_coins`` coins
    with ``seed``. ``python``: an interpreter of the pinned training environment to fit
    with (see the module docstring); None fits here. Returns the model's id, name, features,
    file path, metrics and the libraries that made the file.
    """
    if model_type not in MODEL_TYPES:
        raise TrainingError(f"unsupported model type {model_type!r} (random_forest, xgboost)")
    if target not in TARGET_KINDS:
        raise TrainingError(f"unknown target kind {target!r} (rule, time)")
    chosen: RuleTarget | TimeTarget = (
        (rule or RuleTarget()) if target == "rule" else (time_target or TimeTarget())
    )
    name = name or default_name(model_type, target, seed)
    if await ml_models_repo.name_taken(conn, name):
        raise TrainingError(f"a model named {name!r} already exists in ml_models")
    if history is None:
        history = await asyncio.to_thread(simulated_history, n_coins, seed)
    data = await asyncio.to_thread(
        build_training_set,
        history,
        chosen,
        windows=windows,
        time_target_in_features=time_target_in_features,
    )
    base_params: dict[str, Any] = {
        "use_engineered_features": True,
        "feature_engineering_windows": list(windows),
    }
    is_time = isinstance(chosen, TimeTarget)
    if isinstance(chosen, TimeTarget):
        base_params["_time_based"] = {
            "enabled": True,
            "future_minutes": chosen.future_minutes,
            "min_percent_change": chosen.min_percent_change,
            "direction": chosen.direction,
        }
    _, hyper = make_estimator(model_type, seed)
    record = ModelRecord(
        name=name,
        model_type=model_type,
        description=(
            f"Demo {model_type} model ({target}-based) trained by the training-service "
            f"stand-in on {len(data.y)} rows (seed {seed}"
            + (", under the training service's pinned libraries)." if python else ").")
        ),
        target_variable=chosen.variable,
        target_operator=None if isinstance(chosen, TimeTarget) else chosen.op,
        target_value=None if isinstance(chosen, TimeTarget) else chosen.value,
        train_start=data.train_start,
        train_end=data.train_end,
        future_minutes=chosen.future_minutes if isinstance(chosen, TimeTarget) else None,
        price_change_percent=(
            chosen.min_percent_change if isinstance(chosen, TimeTarget) else None
        ),
        target_direction=chosen.direction if isinstance(chosen, TimeTarget) else None,
        features=data.features,
        phases=None,
        params={**hyper, **base_params},
    )
    model_id = await insert_training(conn, record)
    path = (models_dir / _file_name(model_type, model_id, name)).resolve()
    try:
        if python is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            fitted = await asyncio.to_thread(
                fit_pinned, history, data, model_type, seed, windows, python, path
            )
        else:
            estimator, _, metrics, confusion = await asyncio.to_thread(
                fit_and_evaluate, data, model_type, seed
            )
            await asyncio.to_thread(_dump, estimator, path)
            fitted = Fitted(
                metrics, confusion, list(estimator.feature_importances_), library_versions()
            )
        importance = {
            f: round(float(v), 6) for f, v in zip(data.inputs, fitted.importances, strict=True)
        }
        await mark_ready(
            conn,
            model_id,
            model_file_path=str(path),
            metrics=fitted.metrics,
            confusion=fitted.confusion,
            feature_importance=importance,
        )
    except Exception as exc:
        await mark_failed(conn, model_id, f"{type(exc).__name__}: {exc}")
        raise
    metrics, confusion = fitted.metrics, fitted.confusion
    return {
        "id": model_id,
        "name": name,
        "model_type": model_type,
        "target": target,
        "time_based": is_time,
        "features": data.features,
        "inputs": data.inputs,
        "model_file_path": str(path),
        "rows": len(data.y),
        "positives": int(data.y.sum()),
        "metrics": metrics,
        "confusion_matrix": confusion,
        "libraries": fitted.libraries,
    }
