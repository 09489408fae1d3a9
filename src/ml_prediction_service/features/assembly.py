"""Model input assembly: which columns, in which order, a model gets (contract §5).

Rules: the model's ``features`` list in stored order, minus the ``target_variable`` of a
time-based model (``target_operator`` is None); names the estimator carries
(``feature_names_in_`` or an XGBoost booster's ``feature_names``) are authoritative; a count
that differs from ``n_features_in_`` is refused; unknown names are refused. Never guess.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ml_prediction_service.arrays import FloatArray

from .errors import FeatureCountMismatchError, InvalidModelMetadataError, UnknownFeatureError
from .names import DEFAULT_WINDOW_SIZES, known_feature_names, validate_window_sizes

__all__ = [
    "combine",
    "estimator_feature_names",
    "input_positions",
    "model_window_sizes",
    "resolve_model_input_columns",
    "uses_engineered_features",
]


def _params(params: object, model: str | None) -> Mapping[str, object]:
    if params is None:
        return {}
    if not isinstance(params, Mapping):
        raise InvalidModelMetadataError(
            f"model {model!r}: params must be a JSON object, got {type(params).__name__}",
            model=model,
        )
    return params


def uses_engineered_features(params: object, *, model: str | None = None) -> bool:
    """``params.use_engineered_features`` (absent/null → False; must be a boolean)."""
    value = _params(params, model).get("use_engineered_features")
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InvalidModelMetadataError(
            f"model {model!r}: params.use_engineered_features must be a boolean, got {value!r}",
            model=model,
        )
    return value


def model_window_sizes(params: object, *, model: str | None = None) -> tuple[int, ...]:
    """``params.feature_engineering_windows`` (absent/null → (5, 10, 15)), validated."""
    value = _params(params, model).get("feature_engineering_windows")
    if value is None:
        return DEFAULT_WINDOW_SIZES
    if not isinstance(value, Sequence) or isinstance(value, str | bytes):
        raise InvalidModelMetadataError(
            f"model {model!r}: params.feature_engineering_windows must be a list, got {value!r}",
            model=model,
        )
    try:
        return validate_window_sizes(value)
    except ValueError as exc:
        raise InvalidModelMetadataError(f"model {model!r}: {exc}", model=model) from exc


def estimator_feature_names(estimator: object) -> list[str] | None:
    """Names the fitted estimator carries, or None (e.g. trained on a plain numpy array).

    Reads ``feature_names_in_`` (scikit-learn, XGBoost sklearn API), else the XGBoost
    booster's ``feature_names``. XGBoost's placeholder names ``f0 … f{n-1}`` count as none.
    """
    names: object = getattr(estimator, "feature_names_in_", None)
    if names is None:
        booster: object = estimator
        get_booster = getattr(estimator, "get_booster", None)
        if callable(get_booster):
            try:
                booster = get_booster()
            except Exception:  # an unfitted XGBoost model raises here
                return None
        names = getattr(booster, "feature_names", None)
    if names is None:
        return None
    if isinstance(names, str) or not isinstance(names, Sequence | np.ndarray):
        return None
    result = [str(name) for name in names]
    if not result or result == [f"f{i}" for i in range(len(result))]:
        return None
    return result


def _feature_list(features: object, model: str | None) -> list[str]:
    if (
        isinstance(features, str | bytes)
        or not isinstance(features, Sequence)
        or not all(isinstance(f, str) for f in features)
    ):
        raise InvalidModelMetadataError(
            f"model {model!r}: features must be a list of names, got {features!r}", model=model
        )
    return list(features)


def resolve_model_input_columns(
    *,
    model: str,
    features: object,
    target_variable: str | None,
    target_operator: str | None,
    params: object,
    estimator_feature_names: Sequence[str] | None = None,
    n_features_in: int | None = None,
) -> list[str]:
    """The ordered input columns of a model, or a :class:`FeatureContractError` subclass.

    ``model`` names the model in error messages. ``features`` is the stored list (order
    kept); for a time-based model (``target_operator`` None) ``target_variable`` is removed.
    Non-empty ``estimator_feature_names`` replace that list (they are what the model was fit
    on). ``n_features_in`` (the estimator's ``n_features_in_``) must equal the column count.
    Every column must be a base column, an ATH feature, or (with
    ``params.use_engineered_features``) an engineered feature of the model's windows.
    """
    listed = _feature_list(features, model)
    engineered = uses_engineered_features(params, model=model)
    windows = model_window_sizes(params, model=model)
    if estimator_feature_names:
        columns = [str(name) for name in estimator_feature_names]
        source = "the estimator's feature names"
    else:
        columns = [f for f in listed if not (target_operator is None and f == target_variable)]
        source = "ml_models.features" + (
            f" without the time-based target {target_variable!r}"
            if target_operator is None and target_variable in listed
            else ""
        )
    if not columns:
        raise InvalidModelMetadataError(f"model {model!r}: no input features", model=model)
    if n_features_in is not None and len(columns) != n_features_in:
        raise FeatureCountMismatchError(
            f"model {model!r}: {len(columns)} input columns from {source}, but the estimator "
            f"expects n_features_in_={n_features_in}; refusing to serve it (no guessing)",
            model=model,
            expected=n_features_in,
            got=len(columns),
        )
    known = known_feature_names(use_engineered_features=engineered, window_sizes=windows)
    known_set = set(known)
    unknown = list(dict.fromkeys(c for c in columns if c not in known_set))
    if unknown:
        hint = "" if engineered else " (params.use_engineered_features is not true)"
        raise UnknownFeatureError(
            f"model {model!r}: unknown features {unknown}{hint}; known features: {known}",
            model=model,
            unknown=unknown,
            known=known,
        )
    return columns


def input_positions(
    input_columns: Sequence[str], feature_names: Sequence[str], base_names: Sequence[str]
) -> list[int]:
    """Where each input column sits in ``[base | features]`` (the matrix ``combine`` builds).

    Raises ``ValueError`` if a column is in neither.
    """
    position = {name: i for i, name in enumerate(base_names)}
    position.update({name: len(base_names) + i for i, name in enumerate(feature_names)})
    missing = [c for c in input_columns if c not in position]
    if missing:
        raise ValueError(f"columns not computed for this batch: {missing}")
    return [position[c] for c in input_columns]


def combine(features: FloatArray, base: FloatArray) -> FloatArray:
    """``[base | features]`` side by side: one matrix every model's inputs are taken from."""
    n = base.shape[0]
    return np.concatenate((base.reshape(n, -1), features.reshape(n, -1)), axis=1)
