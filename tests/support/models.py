"""Tiny real models for tests (trained once per session) and ml_models rows for them.

The estimators are bare RandomForestClassifier / XGBClassifier fitted on plain numpy
arrays, saved with joblib.dump — exactly what the training service hands out (contract §4).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import joblib
import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from xgboost import XGBClassifier

from ml_prediction_service.features import get_engineered_feature_names
from ml_prediction_service.stand_ins.ml_models import insert_row

BASE_FEATURES = [
    "price_close",
    "volume_sol",
    "buy_pressure_ratio",
    "unique_signer_ratio",
    "market_cap_close",
    "num_buys",
]
ENGINEERED = ["price_change_5", "volume_ratio_10", "ath_distance_trend_5", "dev_sold_cumsum"]
RULE_FEATURES = BASE_FEATURES + ENGINEERED
# A time-based model lists its target_variable (price_close) among the features; it is never
# an input, so this list has one name more than the model's width.
TIME_FEATURES = ["price_open", *BASE_FEATURES[1:], *ENGINEERED, "price_close"]


@dataclass(frozen=True)
class TrainedFile:
    path: Path
    n_features: int


def _data(n_features: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(400, n_features))
    y = (x[:, 0] + 0.5 * x[:, 1] + rng.normal(scale=0.5, size=400) > 0).astype(int)
    return x, y


def train_files(folder: Path) -> dict[str, TrainedFile]:
    """Train each kind once; return name → file."""
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, TrainedFile] = {}
    n = len(RULE_FEATURES)
    x, y = _data(n, 1)
    rf = RandomForestClassifier(n_estimators=15, max_depth=5, random_state=0).fit(x, y)
    xgb = XGBClassifier(n_estimators=15, max_depth=3, random_state=0, n_jobs=1).fit(x, y)
    rf2 = RandomForestClassifier(n_estimators=7, max_depth=3, random_state=1).fit(x, 1 - y)
    x_small, y_small = _data(3, 2)
    narrow = RandomForestClassifier(n_estimators=5, random_state=0).fit(x_small, y_small)
    logreg = LogisticRegression().fit(x, y)
    for name, est, width in [
        ("rf", rf, n),
        ("xgb", xgb, n),
        ("rf_other", rf2, n),
        ("rf_narrow", narrow, 3),
        ("logreg", logreg, n),
    ]:
        path = folder / f"{name}.joblib"
        joblib.dump(est, path)
        out[name] = TrainedFile(path, width)
    for name, est in [
        ("rf_counts", _counts_forest(x, y)),
        ("rf_nan_corner", _nan_corner(x, y)),
        ("rf_unexplainable", _unexplainable(x, y)),
    ]:
        path = folder / f"{name}.joblib"
        joblib.dump(est, path)
        out[name] = TrainedFile(path, n)
    html = folder / "error_page.joblib"
    html.write_text("<!DOCTYPE html><html><body>502 Bad Gateway</body></html>")
    out["html"] = TrainedFile(html, 0)
    corrupt = folder / "corrupt.joblib"
    corrupt.write_bytes(b"\x80\x04" + bytes(range(256)) * 4)
    out["corrupt"] = TrainedFile(corrupt, 0)
    return out


def _counts_forest(x: np.ndarray, y: np.ndarray) -> RandomForestClassifier:
    """A forest whose leaves hold weighted class counts, not fractions, in a file that claims
    this scikit-learn version: its predict_proba returns sums of counts (not probabilities)."""
    forest = RandomForestClassifier(n_estimators=5, max_depth=4, random_state=3).fit(x, y)
    for tree in forest.estimators_:
        state = tree.tree_.__getstate__()
        weights = state["nodes"]["weighted_n_node_samples"].reshape(-1, 1, 1)
        state["values"] = state["values"] * weights
        tree.tree_.__setstate__(state)
    return forest


NAN_CORNER = 1e8  # the corner: price_close, volume_sol and market_cap_close all above this
NAN_CORNER_FEATURES = (0, 1, 4)  # their positions in RULE_FEATURES


def _nan_corner(x: np.ndarray, y: np.ndarray) -> RandomForestClassifier:
    """A real forest with one hand-edited tree: NaN in a far corner that needs three inputs
    above NAN_CORNER at once, which the import probe (split thresholds and their neighbours,
    one feature at a time) does not reach. It imports, and fails at run time on such a coin."""
    forest = RandomForestClassifier(n_estimators=10, max_depth=4, random_state=4).fit(x, y)
    tree = forest.estimators_[0].tree_
    state = tree.__getstate__()
    nodes = np.zeros(7, dtype=state["nodes"].dtype)
    a, b, c = NAN_CORNER_FEATURES
    # split nodes 0, 2, 4 (left → a leaf, right → the next split); leaves 1, 3, 5, 6
    for node, left, feature in ((0, 1, a), (2, 3, b), (4, 5, c)):
        nodes[node] = (left, left + 1, feature, NAN_CORNER, 0.5, 10, 10.0, 1)
    for leaf in (1, 3, 5, 6):
        nodes[leaf] = (-1, -1, -2, -2.0, 0.0, 5, 5.0, 0)
    values = np.tile(np.array([[[0.5, 0.5]]]), (7, 1, 1))
    values[1], values[3], values[5] = [[1.0, 0.0]], [[0.0, 1.0]], [[1.0, 0.0]]
    values[6] = [[np.nan, np.nan]]
    tree.__setstate__({"max_depth": 3, "node_count": 7, "nodes": nodes, "values": values})
    return forest


def _unexplainable(x: np.ndarray, y: np.ndarray) -> RandomForestClassifier:
    """A real forest whose first tree's root value is NaN: predict_proba reads only the leaves,
    so it serves like any other forest, but its tree-path contributions (which start at the
    root) are not finite: its alerts cannot be explained."""
    forest = RandomForestClassifier(n_estimators=5, max_depth=4, random_state=5).fit(x, y)
    tree = forest.estimators_[0].tree_
    state = tree.__getstate__()
    state["values"] = state["values"].copy()
    state["values"][0] = np.nan
    tree.__setstate__(state)
    return forest


async def insert_ml_model(
    conn: asyncpg.Connection,
    *,
    name: str,
    path: Path,
    model_type: str = "random_forest",
    features: list[str] | str | None = None,
    status: str = "READY",
    is_deleted: bool = False,
    time_based: bool = False,
    phases: list[int] | None = None,
) -> int:
    """A READY row in the training service's ml_models table, as that service writes it
    (through the stand-in's one writer of ml_models rows)."""
    params: dict[str, Any] = {
        "n_estimators": 15,
        "use_engineered_features": True,
        "feature_engineering_windows": [5, 10, 15],
    }
    if time_based:
        params["_time_based"] = {
            "enabled": True,
            "future_minutes": 10,
            "min_percent_change": 5.0,
            "direction": "up",
        }
    feats = features if features is not None else (TIME_FEATURES if time_based else RULE_FEATURES)
    return await insert_row(
        conn,
        name=name,
        model_type=model_type,
        status=status,
        is_deleted=is_deleted,
        target_variable="price_close" if time_based else "buy_pressure_ratio",
        target_operator=None if time_based else ">",
        target_value=None if time_based else 0.6,
        features=feats,
        phases=phases,
        params=params,
        training_accuracy=0.81,
        training_f1=0.7,
        roc_auc=0.88,
        confusion_matrix={"tp": 10, "tn": 20, "fp": 3, "fn": 4},
        model_file_path=str(path),
    )


def all_engineered() -> list[str]:
    return get_engineered_feature_names([5, 10, 15])


def as_json(value: Any) -> str:
    return json.dumps(value)
