"""Models made by the training service's library versions (scikit-learn 1.3.2 / xgboost 2.0.2,
and one later generation) run on this service's fast runtime with the probabilities the
original library gave (stored in the fixtures, ≤ 1e-6)."""

from __future__ import annotations

import numpy as np
import pytest

from ml_prediction_service.models.loaded import load_model
from ml_prediction_service.models.metadata import parse_spec
from tests.support.reference_models import PINNED_GENERATION, ReferenceModel, reference_models

MODELS = reference_models()


def test_the_fixtures_include_the_training_services_versions() -> None:
    pinned = [m for m in MODELS if m.generation == PINNED_GENERATION]
    assert len(pinned) == 4
    assert pinned[0].libraries["scikit-learn"] == "1.3.2"
    assert pinned[0].libraries["xgboost"] == "2.0.2"


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.key)
def test_runtime_reproduces_the_original_library(model: ReferenceModel) -> None:
    loaded = load_model(parse_spec(model.meta), model.path, None)
    assert loaded.runtime_name == "onnxruntime", loaded.runtime_note
    assert loaded.provenance.library == model.library
    assert loaded.provenance.file_version == model.libraries[model.library]
    assert loaded.input_columns == model.meta["features"]
    rows = np.asarray(model.meta["probe"]["rows"], dtype=np.float64)
    want = np.asarray(model.meta["probe"]["proba"], dtype=np.float64)[:, 1]
    got = loaded.runtime.predict_proba(rows)
    diff = float(np.max(np.abs(got - want)))
    print(f"{model.key}: {loaded.runtime_name}, max |runtime - original| = {diff:.3g}")
    assert diff <= 1e-6
    # the library itself, as adapted, equals the original too
    native = np.asarray(loaded.estimator.predict_proba(rows))[:, 1]
    assert float(np.max(np.abs(native - want))) <= 1e-12


@pytest.mark.parametrize(
    "model", [m for m in MODELS if m.meta["model_type"] == "random_forest"], ids=lambda m: m.key
)
def test_forest_tree_values_are_adapted_only_where_their_meaning_changed(
    model: ReferenceModel,
) -> None:
    loaded = load_model(parse_spec(model.meta), model.path, None)
    converted = any("weighted class counts" in a for a in loaded.provenance.adjustments)
    version = tuple(int(p) for p in model.libraries["scikit-learn"].split(".")[:3])
    assert converted == (version < (1, 4, 1))
