"""Model input assembly: order, time-based targets, estimator names, refusals (contract §5)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from ml_prediction_service.features import (
    FeatureContractError,
    FeatureCountMismatchError,
    InvalidModelMetadataError,
    UnknownFeatureError,
    estimator_feature_names,
    model_window_sizes,
    resolve_model_input_columns,
    uses_engineered_features,
)
from tests.support.model_input import assemble_model_input, estimator_n_features


def resolve(**overrides: Any) -> list[str]:
    kwargs: dict[str, Any] = {
        "model": "pump_rf_v1",
        "features": ["price_close", "volume_sol", "num_buys"],
        "target_variable": "price_close",
        "target_operator": ">",
        "params": {},
    }
    kwargs.update(overrides)
    return resolve_model_input_columns(**kwargs)


def test_stored_order_is_kept() -> None:
    assert resolve(features=["num_buys", "price_close", "volume_sol"]) == [
        "num_buys",
        "price_close",
        "volume_sol",
    ]


def test_time_based_model_never_gets_its_target_variable() -> None:
    assert resolve(target_operator=None) == ["volume_sol", "num_buys"]
    # a rule-based model keeps it
    assert resolve(target_operator=">") == ["price_close", "volume_sol", "num_buys"]


def test_engineered_and_ath_features() -> None:
    params = {"use_engineered_features": True, "feature_engineering_windows": [2, 4]}
    cols = resolve(features=["price_close", "volume_ratio_4", "rolling_ath"], params=params)
    assert cols == ["price_close", "volume_ratio_4", "rolling_ath"]
    assert resolve(features=["volume_spike_15"], params={"use_engineered_features": True}) == [
        "volume_spike_15"
    ]


def test_estimator_names_are_authoritative() -> None:
    cols = resolve(
        estimator_feature_names=["num_buys", "volume_sol", "price_close"], n_features_in=3
    )
    assert cols == ["num_buys", "volume_sol", "price_close"]


def test_count_mismatch_is_refused_with_model_and_both_counts() -> None:
    with pytest.raises(FeatureCountMismatchError) as info:
        resolve(n_features_in=2)  # never "the first two names"
    err = info.value
    assert err.code == "feature_count_mismatch"
    assert isinstance(err, FeatureContractError)
    assert (err.expected, err.got, err.model) == (2, 3, "pump_rf_v1")
    assert "pump_rf_v1" in str(err)
    assert "3 input columns" in str(err)
    assert "n_features_in_=2" in str(err)


def test_time_based_target_removal_can_cause_a_mismatch() -> None:
    with pytest.raises(FeatureCountMismatchError, match="without the time-based target"):
        resolve(target_operator=None, n_features_in=3)


def test_unknown_features_are_refused_with_the_known_list() -> None:
    with pytest.raises(UnknownFeatureError) as info:
        resolve(features=["price_close", "price_vs_ath_pct", "volume_ratio_5"])
    err = info.value
    assert err.code == "unknown_features"
    assert err.unknown == ["price_vs_ath_pct", "volume_ratio_5"]  # engineering is off
    assert "price_close" in err.known
    assert "volume_ratio_5" not in err.known
    assert "known features" in str(err)
    assert "use_engineered_features" in str(err)


def test_engineered_name_for_another_window_is_unknown() -> None:
    with pytest.raises(UnknownFeatureError):
        resolve(
            features=["volume_ratio_5"],
            params={"use_engineered_features": True, "feature_engineering_windows": [10]},
        )


@pytest.mark.parametrize(
    ("features", "params"),
    [
        ("price_close", {}),
        ([1, 2], {}),
        (["price_close"], "not a mapping"),
        (["price_close"], {"use_engineered_features": "yes"}),
        (["price_close"], {"feature_engineering_windows": "5,10"}),
        (["price_close"], {"feature_engineering_windows": [5, 0]}),
        ([], {}),
    ],
)
def test_malformed_metadata_is_refused(features: object, params: object) -> None:
    with pytest.raises(InvalidModelMetadataError) as info:
        resolve(features=features, params=params)
    assert info.value.code == "invalid_model_metadata"


def test_params_helpers() -> None:
    assert uses_engineered_features(None) is False
    assert uses_engineered_features({"use_engineered_features": True}) is True
    assert model_window_sizes(None) == (5, 10, 15)
    assert model_window_sizes({"feature_engineering_windows": [3, 6]}) == (3, 6)


class _Sklearn:
    def __init__(self, names: list[str] | None, n: int) -> None:
        if names is not None:
            self.feature_names_in_ = np.asarray(names, dtype=object)
        self.n_features_in_ = n


class _Booster:
    def __init__(self, names: list[str] | None) -> None:
        self.feature_names = names


class _Xgb:
    def __init__(self, names: list[str] | None, fitted: bool = True) -> None:
        self._booster = _Booster(names)
        self._fitted = fitted
        self.n_features_in_ = np.int64(2)

    def get_booster(self) -> _Booster:
        if not self._fitted:
            raise RuntimeError("need to call fit first")
        return self._booster


def test_estimator_feature_names() -> None:
    assert estimator_feature_names(_Sklearn(["a", "b"], 2)) == ["a", "b"]
    assert estimator_feature_names(_Sklearn(None, 2)) is None
    assert estimator_feature_names(_Xgb(["x", "y"])) == ["x", "y"]
    assert estimator_feature_names(_Xgb(None)) is None
    assert estimator_feature_names(_Xgb(["f0", "f1"])) is None  # XGBoost placeholders
    assert estimator_feature_names(_Xgb(["x"], fitted=False)) is None
    assert estimator_feature_names(object()) is None


def test_estimator_n_features() -> None:
    assert estimator_n_features(_Sklearn(None, 7)) == 7
    assert estimator_n_features(_Xgb(None)) == 2
    assert estimator_n_features(object()) is None


def test_assemble_model_input_takes_columns_by_name() -> None:
    features = np.array([[1.0, 2.0], [3.0, 4.0]])
    base = np.array([[10.0, 20.0], [30.0, 40.0]])
    x = assemble_model_input(
        ["volume_sol", "dev_sold_flag", "price_close", "volume_sol"],
        features=features,
        feature_names=["dev_sold_flag", "dev_sold_cumsum"],
        base=base,
        base_names=["price_close", "volume_sol"],
    )
    assert x.tolist() == [[20.0, 1.0, 10.0, 20.0], [40.0, 3.0, 30.0, 40.0]]
    with pytest.raises(ValueError, match="not computed"):
        assemble_model_input(
            ["rolling_ath"],
            features=features,
            feature_names=["a", "b"],
            base=base,
            base_names=["c", "d"],
        )
