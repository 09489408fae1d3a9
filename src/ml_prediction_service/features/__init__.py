"""The feature contract with the training service (contract §5): one source of truth.

Pure functions, no I/O. ``reference`` is the pandas implementation a training service imports;
``batch`` is the vectorised fast path the service uses for the newest snapshot of many coins,
on ``tail`` (recent rows) and ``state`` (full-history aggregates per coin); ``assembly``
orders a model's inputs.
"""

from __future__ import annotations

from .assembly import (
    combine,
    estimator_feature_names,
    input_positions,
    model_window_sizes,
    resolve_model_input_columns,
    uses_engineered_features,
)
from .batch import batch_feature_names, compute_batch_features, snapshot_base_values
from .errors import (
    FeatureContractError,
    FeatureCountMismatchError,
    InvalidModelMetadataError,
    UnknownFeatureError,
)
from .names import (
    ATH_FEATURE_NAMES,
    BASE_COLUMNS,
    DEFAULT_WINDOW_SIZES,
    ENGINEERING_INPUT_COLUMNS,
    HISTORY_KEY_COLUMNS,
    get_engineered_feature_names,
    known_feature_names,
    tail_depth,
    validate_window_sizes,
)
from .reference import NS_PER_MINUTE, add_ath_features, create_pump_detection_features
from .state import PrefixBatch, advance_prefix_batch
from .tail import TailBatch

__all__ = [
    "ATH_FEATURE_NAMES",
    "BASE_COLUMNS",
    "DEFAULT_WINDOW_SIZES",
    "ENGINEERING_INPUT_COLUMNS",
    "HISTORY_KEY_COLUMNS",
    "NS_PER_MINUTE",
    "FeatureContractError",
    "FeatureCountMismatchError",
    "InvalidModelMetadataError",
    "PrefixBatch",
    "TailBatch",
    "UnknownFeatureError",
    "add_ath_features",
    "advance_prefix_batch",
    "batch_feature_names",
    "combine",
    "compute_batch_features",
    "create_pump_detection_features",
    "estimator_feature_names",
    "get_engineered_feature_names",
    "input_positions",
    "known_feature_names",
    "model_window_sizes",
    "resolve_model_input_columns",
    "snapshot_base_values",
    "tail_depth",
    "uses_engineered_features",
    "validate_window_sizes",
]
