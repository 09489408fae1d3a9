"""Turn an active-model row into a servable model: load, verify, resolve inputs, runtime."""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from ml_prediction_service.features import (
    estimator_feature_names,
    model_window_sizes,
    resolve_model_input_columns,
)
from ml_prediction_service.features.errors import FeatureContractError
from ml_prediction_service.models.compat import Provenance
from ml_prediction_service.models.errors import ModelFileError
from ml_prediction_service.models.explain import Explainer, explainer
from ml_prediction_service.models.loader import load_file
from ml_prediction_service.models.metadata import ModelSpec
from ml_prediction_service.models.runtime import Runtime, RuntimeChoice, build_runtime


@dataclass(frozen=True)
class LoadedModel:
    """A verified estimator with its runtime and the exact input columns it expects."""

    estimator: Any
    choice: RuntimeChoice
    provenance: Provenance
    input_columns: list[str]
    window_sizes: tuple[int, ...]
    sha256: str
    load_seconds: float

    @property
    def runtime(self) -> Runtime:
        return self.choice.runtime

    @property
    def runtime_name(self) -> str:
        return self.choice.runtime.name

    @property
    def runtime_note(self) -> str | None:
        return self.choice.note

    @cached_property
    def explainer(self) -> Explainer:
        """Built on first use (a model's first alert); raises ExplainError (not cached) for a
        model that cannot be explained."""
        return explainer(self.estimator)


def resolve_inputs(spec: ModelSpec, estimator: Any) -> list[str]:
    """Input columns per the feature contract's "Feature order"; raises ModelFileError if
    unservable."""
    try:
        return resolve_model_input_columns(
            model=spec.name,
            features=list(spec.features),
            target_variable=spec.target_variable,
            target_operator=spec.target_operator,
            params=dict(spec.params),
            estimator_feature_names=estimator_feature_names(estimator),
            n_features_in=int(estimator.n_features_in_),
        )
    except FeatureContractError as exc:
        raise ModelFileError(exc.message, code=exc.code) from exc


def load_model(
    spec: ModelSpec,
    path: Path,
    sha256: str | None,
    *,
    use_onnx: bool = True,
    label: str | None = None,
) -> LoadedModel:
    """Blocking (CPU + disk): call from a worker thread. With ``sha256`` the file must have
    that hash (the one recorded at import), else it is refused unloaded. ``label`` names the
    file in messages (default: its name)."""
    started = time.perf_counter()
    if label is None:
        label = path.name
        if path.name.startswith(".incoming-"):  # a download not yet in its place
            label = f"for model {spec.name!r}"
    loaded = load_file(path, expected_type=spec.model_type, sha256=sha256 or None, label=label)
    estimator = loaded.estimator
    columns = resolve_inputs(spec, estimator)
    try:
        windows = model_window_sizes(dict(spec.params), model=spec.name)
    except FeatureContractError as exc:
        raise ModelFileError(exc.message, code=exc.code) from exc
    choice = build_runtime(estimator, use_onnx=use_onnx)
    return LoadedModel(
        estimator=estimator,
        choice=choice,
        provenance=loaded.provenance,
        input_columns=columns,
        window_sizes=windows,
        sha256=loaded.sha256,
        load_seconds=time.perf_counter() - started,
    )
