"""Alert reasons: per-row contributions of real trained models add up to what the model
computes (XGBoost: the margin; Random Forest: the probability), also for the files the
training service's pinned versions made; the top positive ones are the reasons."""

from __future__ import annotations

import joblib
import numpy as np
import pytest
import xgboost
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from xgboost import XGBClassifier

from ml_prediction_service.models.explain import (
    ExplainError,
    explain_served,
    explainer,
    probability_of,
    top_reasons,
)
from ml_prediction_service.models.loaded import load_model
from ml_prediction_service.models.metadata import parse_spec
from ml_prediction_service.models.runtime import _booster_thresholds, build_runtime, probe_batch
from tests.support.models import TrainedFile
from tests.support.reference_models import PINNED_GENERATION, ReferenceModel, reference_models

MODELS = reference_models()


def _data(
    seed: int, n: int = 800, width: int = 12, scale: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, width)) * scale
    y = x[:, 0] - 0.7 * x[:, 3] + x[:, 5] * x[:, 6] + rng.normal(scale=0.4 * scale, size=n) > 0
    return x, y.astype(int)


def _margin(estimator: XGBClassifier, x: np.ndarray) -> np.ndarray:
    matrix = xgboost.DMatrix(x)
    return np.asarray(
        estimator.get_booster().predict(matrix, output_margin=True, validate_features=False),
        dtype=np.float64,
    )


def _xgb_probe(estimator: XGBClassifier) -> np.ndarray:
    width = int(estimator.n_features_in_)
    thresholds = _booster_thresholds(estimator.get_booster(), width)
    return probe_batch(estimator, width, thresholds=thresholds, float32=True)


@pytest.mark.parametrize("exact", [False, True], ids=["tree-path", "tree-shap"])
@pytest.mark.parametrize("scale", [1.0, 1e-8], ids=["unit", "memecoin-prices"])
def test_xgboost_contributions_plus_base_equal_the_margin(scale: float, exact: bool) -> None:
    x, y = _data(1, scale=scale)
    est = XGBClassifier(n_estimators=60, max_depth=5, random_state=0, n_jobs=1).fit(x, y)
    probe = np.vstack([_xgb_probe(est), x[:200]])
    contributions, base = explainer(est).explain(probe, exact)
    assert contributions.shape == probe.shape
    assert np.max(np.abs(base + contributions.sum(axis=1) - _margin(est, probe))) <= 1e-5
    # and that margin is the probability the model serves with
    served = build_runtime(est).runtime.predict_proba(probe)
    total = probability_of(explainer(est), base + contributions.sum(axis=1))
    assert np.max(np.abs(total - served)) <= 1e-5


@pytest.mark.parametrize("scale", [1.0, 1e-8, 1e6], ids=["unit", "memecoin-prices", "large"])
def test_forest_contributions_plus_bias_equal_predict_proba(scale: float) -> None:
    x, y = _data(2, scale=scale)
    est = RandomForestClassifier(n_estimators=30, max_depth=8, random_state=0).fit(x, y)
    # split thresholds and their float neighbours: where a float32 rounding flips a path
    probe = np.vstack([probe_batch(est, x.shape[1]), x[:200]])
    contributions, bias = explainer(est).explain(probe)
    proba = est.predict_proba(probe)[:, 1]
    assert np.max(np.abs(bias + contributions.sum(axis=1) - proba)) <= 1e-9
    assert np.allclose(bias, bias[0])  # the forest's mean root share, the same for every row


def test_forest_explained_one_tree_by_hand() -> None:
    """One stump: the whole change from the root's share to the leaf's goes to its feature."""
    x = np.array([[0.0, 5.0], [1.0, 5.0], [2.0, 5.0], [3.0, 5.0]])
    y = np.array([0, 0, 1, 1])
    est = RandomForestClassifier(n_estimators=1, max_depth=1, bootstrap=False, random_state=0)
    est.fit(x, y)
    contributions, bias = explainer(est).explain(np.array([[3.0, 5.0], [0.0, 5.0]]))
    assert bias.tolist() == [0.5, 0.5]
    assert contributions.tolist() == [[0.5, 0.0], [-0.5, 0.0]]


def test_trained_test_models_are_explained(trained: dict[str, TrainedFile]) -> None:
    x = _data(3, n=50, width=trained["rf"].n_features)[0]
    for key in ("rf", "xgb", "rf_other"):
        est = joblib.load(trained[key].path)
        ex = explainer(est)
        contributions, base = ex.explain(x)
        if key == "xgb":
            assert np.max(np.abs(base + contributions.sum(axis=1) - _margin(est, x))) <= 1e-5
        else:
            proba = est.predict_proba(x)[:, 1]
            assert np.max(np.abs(base + contributions.sum(axis=1) - proba)) <= 1e-9


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.key)
def test_models_of_the_training_services_versions_are_explained(model: ReferenceModel) -> None:
    """Files made by scikit-learn 1.3.2 / xgboost 2.0.2 (and a later generation), loaded as
    the service loads them: the contributions add up to the model's output here, and to the
    probability the original library computed for the same rows."""
    loaded = load_model(parse_spec(model.meta), model.path, None)
    rows = np.asarray(model.meta["probe"]["rows"], dtype=np.float64)
    original = np.asarray(model.meta["probe"]["proba"], dtype=np.float64)[:, 1]
    contributions, base = loaded.explainer.explain(rows)
    total = base + contributions.sum(axis=1)
    if model.meta["model_type"] == "xgboost":
        assert np.max(np.abs(total - _margin(loaded.estimator, rows))) <= 1e-5
        assert np.max(np.abs(probability_of(loaded.explainer, total) - original)) <= 1e-5
        shap, shap_base = loaded.explainer.explain(rows, True)  # ALERT_REASONS_METHOD=shap
        shap_total = shap_base + shap.sum(axis=1)
        assert np.max(np.abs(shap_total - _margin(loaded.estimator, rows))) <= 1e-5
    else:
        assert np.max(np.abs(total - original)) <= 1e-9
    reasons = top_reasons(contributions, rows, loaded.input_columns, 3)
    assert all(r["feature"] in loaded.input_columns for row in reasons for r in row)


def test_the_pinned_generation_is_among_the_explained() -> None:
    assert {m.meta["model_type"] for m in MODELS if m.generation == PINNED_GENERATION} == {
        "random_forest",
        "xgboost",
    }


def test_top_reasons_are_the_largest_positive_contributions_largest_first() -> None:
    contributions = np.array([[0.1, -0.3, 0.25, 0.0, 0.05], [-0.1, -0.2, 0.0, -0.3, -0.4]])
    x = np.array([[1.0, 2.0, 3.0, 4.0, 5.0], [6.0, 7.0, 8.0, 9.0, 10.0]])
    names = ["a", "b", "c", "d", "e"]
    first, second = top_reasons(contributions, x, names, 3)
    assert first == [
        {"feature": "c", "contribution": 0.25, "value": 3.0},
        {"feature": "a", "contribution": 0.1, "value": 1.0},
        {"feature": "e", "contribution": 0.05, "value": 5.0},
    ]
    assert second == []  # nothing pushed it up
    assert [r["feature"] for r in top_reasons(contributions, x, names, 1)[0]] == ["c"]
    with pytest.raises(ExplainError):
        top_reasons(contributions, x, names[:4], 3)


def test_what_cannot_be_explained_says_so(trained: dict[str, TrainedFile]) -> None:
    x, y = _data(4)
    with pytest.raises(ExplainError, match="no explainer for LogisticRegression"):
        explainer(LogisticRegression().fit(x, y))
    # a forest whose inner values are broken serves (leaves only) but is not explained
    est = joblib.load(trained["rf_unexplainable"].path)
    rows = x[:5, : trained["rf_unexplainable"].n_features]
    served = est.predict_proba(rows)[:, 1]
    assert np.isfinite(served).all()
    with pytest.raises(ExplainError, match="not finite"):
        explain_served(explainer(est), rows, served, 1e-4)
    # contributions that do not add up to what was served are refused
    good = joblib.load(trained["rf"].path)
    with pytest.raises(ExplainError, match="away from the served one"):
        explain_served(explainer(good), rows, np.clip(served + 0.3, 0, 1), 1e-4)


def test_xgboost_tree_path_and_tree_shap_are_two_methods() -> None:
    """Both add up to the margin, but they split it differently (the setting matters)."""
    x, y = _data(4)
    est = XGBClassifier(n_estimators=30, max_depth=4, random_state=0, n_jobs=1).fit(x, y)
    path, _ = explainer(est).explain(x[:50])
    shap, _ = explainer(est).explain(x[:50], True)
    assert np.max(np.abs(path - shap)) > 1e-3
