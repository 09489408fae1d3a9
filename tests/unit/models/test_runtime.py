"""Native vs ONNX/in-place runtimes give the same probabilities on real trained models."""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from xgboost import XGBClassifier

from ml_prediction_service.models.errors import ModelFileError
from ml_prediction_service.models.loader import load_estimator
from ml_prediction_service.models.runtime import (
    ONNX_TOLERANCE,
    _booster_thresholds,
    build_runtime,
    probe_batch,
)


def _fit(kind: str, scale: float, seed: int) -> tuple[object, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(600, 12)) * scale
    y = (x[:, 0] - x[:, 3] + rng.normal(scale=0.3 * scale, size=600) > 0).astype(int)
    if kind == "rf":
        est: object = RandomForestClassifier(n_estimators=25, max_depth=6, random_state=seed)
    else:
        est = XGBClassifier(n_estimators=25, max_depth=4, random_state=seed, n_jobs=1)
    est.fit(x, y)  # type: ignore[attr-defined]
    return est, x


@pytest.mark.parametrize("scale", [1.0, 1e-8, 1e6], ids=["unit", "memecoin-prices", "large"])
def test_rf_onnx_matches_sklearn(scale: float) -> None:
    est, x = _fit("rf", scale, 3)
    choice = build_runtime(est)
    runtime, note = choice.runtime, choice.note
    assert runtime.name == "onnxruntime", note
    native = est.predict_proba  # type: ignore[attr-defined]
    for batch in (x[:1], x[:50], x, probe_batch(est, 12, 2048)):
        diff = np.max(np.abs(runtime.predict_proba(batch) - native(batch)[:, 1]))
        assert diff <= ONNX_TOLERANCE


@pytest.mark.parametrize("scale", [1.0, 1e-8, 1e6], ids=["unit", "memecoin-prices", "large"])
def test_xgboost_onnx_matches_the_booster(scale: float) -> None:
    est, x = _fit("xgb", scale, 4)
    choice = build_runtime(est)
    runtime, note = choice.runtime, choice.note
    assert runtime.name == "onnxruntime", note
    booster = est.get_booster()  # type: ignore[attr-defined]
    thresholds = _booster_thresholds(booster, 12)
    for batch in (
        x[:1],
        x[:50],
        x,
        probe_batch(est, 12, 2048, thresholds=thresholds, float32=True),
    ):
        want = est.predict_proba(batch)[:, 1]  # type: ignore[attr-defined]
        assert np.max(np.abs(runtime.predict_proba(batch) - want)) <= ONNX_TOLERANCE


def test_xgboost_with_named_features_converts() -> None:
    rng = np.random.default_rng(8)
    frame = pd.DataFrame(rng.normal(size=(400, 5)), columns=[f"price_{i}" for i in range(5)])
    est = XGBClassifier(n_estimators=10, max_depth=3, n_jobs=1).fit(frame, frame["price_0"] > 0)
    choice = build_runtime(est)
    runtime, note = choice.runtime, choice.note
    assert runtime.name == "onnxruntime", note
    assert list(est.get_booster().feature_names) == list(frame.columns)  # the original is kept
    x = frame.to_numpy()
    want = est.predict_proba(frame)[:, 1]
    assert np.max(np.abs(runtime.predict_proba(x) - want)) <= ONNX_TOLERANCE


def test_xgboost_inplace_without_onnx() -> None:
    est, x = _fit("xgb", 1.0, 4)
    choice = build_runtime(est, use_onnx=False)
    runtime, note = choice.runtime, choice.note
    assert runtime.name == "xgboost-inplace" and note == "ONNX disabled"
    diff = np.max(np.abs(runtime.predict_proba(x) - est.predict_proba(x)[:, 1]))  # type: ignore[attr-defined]
    assert diff <= 1e-7


def test_onnx_can_be_disabled() -> None:
    est, x = _fit("rf", 1.0, 5)
    choice = build_runtime(est, use_onnx=False)
    runtime, note = choice.runtime, choice.note
    assert runtime.name == "sklearn" and note == "ONNX disabled"
    assert np.array_equal(runtime.predict_proba(x), est.predict_proba(x)[:, 1])  # type: ignore[attr-defined]


def test_xgboost_probe_hits_float32_split_conditions() -> None:
    est, _ = _fit("xgb", 1.0, 6)
    import copy

    unnamed = copy.deepcopy(est.get_booster())  # type: ignore[attr-defined]
    thresholds = _booster_thresholds(unnamed, 12)
    assert sum(len(t) for t in thresholds) > 0
    probe = probe_batch(est, 12, 256, thresholds=thresholds, float32=True)
    splits = {np.float32(v) for values in thresholds for v in values}
    assert any(np.float32(v) in splits for v in probe.ravel())
    assert np.array_equal(probe.astype(np.float32).astype(np.float64), probe)


def test_probe_hits_split_thresholds() -> None:
    est, _ = _fit("rf", 1.0, 6)
    probe = probe_batch(est, 12, 256)
    thresholds = {
        float(t)
        for tree in est.estimators_  # type: ignore[attr-defined]
        for f, t in zip(tree.tree_.feature, tree.tree_.threshold, strict=True)
        if f >= 0
    }
    assert any(float(v) in thresholds for v in probe.ravel())


def test_loader_refuses_foreign_pickles(tmp_path: Path) -> None:
    path = tmp_path / "dict.joblib"
    joblib.dump({"not": "a model"}, path)
    with pytest.raises(ModelFileError, match=r"builtins\.dict"):
        load_estimator(path)
    empty = tmp_path / "empty.joblib"
    empty.write_bytes(b"")
    with pytest.raises(ModelFileError, match="empty"):
        load_estimator(empty)
    unfitted = tmp_path / "unfitted.joblib"
    joblib.dump(RandomForestClassifier(), unfitted)
    with pytest.raises(ModelFileError, match="not fitted"):
        load_estimator(unfitted)
