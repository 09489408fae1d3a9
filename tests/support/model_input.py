"""Model-input helpers the service does not need, kept for the tests: which base columns a
model needs (``required_base_columns``), the estimator's ``n_features_in_``
(``estimator_n_features``), and one model's input matrix by name (``assemble_model_input``;
the service takes every model's columns from one combined matrix, ``input_positions`` +
``combine``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from numpy.typing import NDArray

from ml_prediction_service.features import (
    ATH_FEATURE_NAMES,
    BASE_COLUMNS,
    ENGINEERING_INPUT_COLUMNS,
    HISTORY_KEY_COLUMNS,
    combine,
    input_positions,
)

FloatArray = NDArray[np.float64]


def required_base_columns(features: Iterable[str], *, use_engineered_features: bool) -> list[str]:
    """Base columns a model needs from ``coin_metrics``, in ``BASE_COLUMNS`` order.

    Always the history key columns (a row with NULL price_close/price_high/volume_sol is not
    part of the history), the model's own base features, and every engineering input when the
    model uses engineered features or lists an ATH feature. Names that are not base columns
    are ignored here (``resolve_model_input_columns`` refuses unknown names); ``mint`` and
    ``timestamp`` are always needed too but are not base columns.
    """
    wanted = set(HISTORY_KEY_COLUMNS)
    listed = set(features)
    wanted |= listed & set(BASE_COLUMNS)
    if use_engineered_features or listed & set(ATH_FEATURE_NAMES):
        wanted |= set(ENGINEERING_INPUT_COLUMNS)
    return [c for c in BASE_COLUMNS if c in wanted]


def estimator_n_features(estimator: object) -> int | None:
    """``n_features_in_`` of a fitted estimator, or None when it does not say."""
    value = getattr(estimator, "n_features_in_", None)
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        return None
    return int(value)


def assemble_model_input(
    input_columns: Sequence[str],
    *,
    features: FloatArray,
    feature_names: Sequence[str],
    base: FloatArray,
    base_names: Sequence[str],
) -> FloatArray:
    """The (coins × inputs) float64 matrix for one model, columns in ``input_columns`` order.

    ``features``/``feature_names`` come from ``compute_batch_features``; ``base``/``base_names``
    from ``snapshot_base_values``. Raises ``ValueError`` if a column is in neither.
    """
    positions = input_positions(input_columns, feature_names, base_names)
    return np.ascontiguousarray(combine(features, base)[:, positions], dtype=np.float64)
