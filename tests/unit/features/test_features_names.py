"""Feature names and base columns, spelled out from contract §1 and §5."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ml_prediction_service.features import (
    ATH_FEATURE_NAMES,
    BASE_COLUMNS,
    ENGINEERING_INPUT_COLUMNS,
    get_engineered_feature_names,
    known_feature_names,
    tail_depth,
    validate_window_sizes,
)
from tests.support.model_input import required_base_columns

CONTRACT_ORDER_5_10_15 = [
    # 1. dev sold
    "dev_sold_flag", "dev_sold_cumsum",
    "dev_sold_spike_5", "dev_sold_spike_10", "dev_sold_spike_15",
    # 2. buy pressure
    "buy_pressure_ma_5", "buy_pressure_trend_5",
    "buy_pressure_ma_10", "buy_pressure_trend_10",
    "buy_pressure_ma_15", "buy_pressure_trend_15",
    # 3. whales
    "whale_net_volume", "whale_activity_5", "whale_activity_10", "whale_activity_15",
    # 4. volatility
    "volatility_ma_5", "volatility_spike_5",
    "volatility_ma_10", "volatility_spike_10",
    "volatility_ma_15", "volatility_spike_15",
    # 5. wash trading
    "wash_trading_flag_5", "wash_trading_flag_10", "wash_trading_flag_15",
    # 6. net volume
    "net_volume_ma_5", "volume_flip_5",
    "net_volume_ma_10", "volume_flip_10",
    "net_volume_ma_15", "volume_flip_15",
    # 7. price
    "price_change_5", "price_roc_5",
    "price_change_10", "price_roc_10",
    "price_change_15", "price_roc_15",
    # 8. volume
    "volume_ratio_5", "volume_spike_5",
    "volume_ratio_10", "volume_spike_10",
    "volume_ratio_15", "volume_spike_15",
    # 9. market cap
    "mcap_velocity_5", "mcap_velocity_10", "mcap_velocity_15",
    # 10. ATH
    "ath_distance_trend_5", "ath_approach_5", "ath_breakout_count_5",
    "ath_breakout_volume_ma_5", "ath_age_trend_5",
    "ath_distance_trend_10", "ath_approach_10", "ath_breakout_count_10",
    "ath_breakout_volume_ma_10", "ath_age_trend_10",
    "ath_distance_trend_15", "ath_approach_15", "ath_breakout_count_15",
    "ath_breakout_volume_ma_15", "ath_age_trend_15",
]  # fmt: skip


def test_default_names_are_the_contract_order() -> None:
    assert get_engineered_feature_names() == CONTRACT_ORDER_5_10_15
    assert len(CONTRACT_ORDER_5_10_15) == 60


def test_names_follow_the_given_window_order() -> None:
    names = get_engineered_feature_names([3, 1])
    assert len(names) == 3 + 19 * 2
    assert names[2:4] == ["dev_sold_spike_3", "dev_sold_spike_1"]
    assert names[-1] == "ath_age_trend_1"
    assert get_engineered_feature_names([]) == [
        "dev_sold_flag",
        "dev_sold_cumsum",
        "whale_net_volume",
    ]


@pytest.mark.parametrize("windows", [[0], [-1], [5, 5], [2.5], [True]])
def test_bad_windows_are_refused(windows: list[object]) -> None:
    with pytest.raises(ValueError, match="window"):
        validate_window_sizes(windows)  # type: ignore[arg-type]


def test_base_columns_are_the_numeric_coin_metrics_columns() -> None:
    assert len(BASE_COLUMNS) == 28
    assert BASE_COLUMNS[0] == "price_open"
    assert "unique_signer_ratio" in BASE_COLUMNS
    assert "phase_id_at_time" in BASE_COLUMNS
    assert "is_koth" in BASE_COLUMNS
    assert "mint" not in BASE_COLUMNS
    assert "timestamp" not in BASE_COLUMNS
    assert set(ENGINEERING_INPUT_COLUMNS) <= set(BASE_COLUMNS)
    assert len(ENGINEERING_INPUT_COLUMNS) == 11


def test_tail_depth() -> None:
    assert tail_depth((5, 10, 15)) == 16
    assert tail_depth((2,)) == 3
    assert tail_depth(()) == 1


def test_required_base_columns() -> None:
    plain = required_base_columns(["num_buys", "price_open"], use_engineered_features=False)
    # the history key columns are always needed; BASE_COLUMNS order
    assert plain == ["price_open", "price_high", "price_close", "volume_sol", "num_buys"]
    engineered = required_base_columns(["num_buys"], use_engineered_features=True)
    assert set(engineered) == set(ENGINEERING_INPUT_COLUMNS) | {"num_buys"}
    assert engineered == [c for c in BASE_COLUMNS if c in engineered]
    # an ATH feature needs the engineering inputs (prefix state) even without engineering
    with_ath = required_base_columns(["rolling_ath"], use_engineered_features=False)
    assert set(with_ath) == set(ENGINEERING_INPUT_COLUMNS)


def test_known_feature_names() -> None:
    plain = known_feature_names(use_engineered_features=False)
    assert plain == list(BASE_COLUMNS) + list(ATH_FEATURE_NAMES)
    engineered = known_feature_names(use_engineered_features=True, window_sizes=(2,))
    assert engineered[-1] == "ath_age_trend_2"


def test_docs_table_lists_every_feature() -> None:
    docs = Path(__file__).resolve().parents[3] / "docs" / "features.md"
    text = docs.read_text(encoding="utf-8")
    templates = {re.sub(r"_(5|10|15)$", "_w", n) for n in get_engineered_feature_names()}
    missing = [t for t in sorted(templates | set(ATH_FEATURE_NAMES)) if f"`{t}`" not in text]
    assert not missing, f"docs/features.md lacks {missing}"
