"""Reference implementation against values computed by hand from contract §5.

Every expected number below was worked out on paper from the contract text (windows count
rows, at least one row, NULL/inf skipped by windows, comparisons with NULL false, division by
zero → NaN/inf → 0 at the end). Small windows (2, 3) keep the arithmetic short.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from ml_prediction_service.features import (
    ATH_FEATURE_NAMES,
    add_ath_features,
    create_pump_detection_features,
    get_engineered_feature_names,
)

NAN = math.nan
INF = math.inf
T0 = pd.Timestamp("2024-05-01T12:00:00Z")
W23 = (2, 3)

DEFAULTS: dict[str, float] = {
    "price_close": 1.0,
    "price_high": 1.0,
    "volume_sol": 1.0,
    "market_cap_close": 100.0,
    "dev_sold_amount": 0.0,
    "buy_pressure_ratio": 0.5,
    "whale_buy_volume_sol": 0.0,
    "whale_sell_volume_sol": 0.0,
    "volatility_pct": 1.0,
    "unique_signer_ratio": 0.5,
    "net_volume_sol": 1.0,
}


def frame(
    n: int, minutes: Sequence[float] | None = None, **columns: Sequence[float | None]
) -> pd.DataFrame:
    """One coin, ``n`` rows one minute apart (or at ``minutes``); unspecified columns benign."""
    offsets = list(range(n)) if minutes is None else minutes
    data: dict[str, object] = {
        "mint": ["COIN"] * n,
        "timestamp": [T0 + pd.Timedelta(minutes=m) for m in offsets],
    }
    for name, default in DEFAULTS.items():
        values = list(columns.pop(name, [default] * n))
        assert len(values) == n
        data[name] = [NAN if v is None else v for v in values]
    assert not columns, f"unknown columns {columns}"
    return pd.DataFrame(data)


def col(result: pd.DataFrame, name: str) -> list[float]:
    return [float(v) for v in result[name]]


def approx(values: list[float]) -> object:
    return pytest.approx(values, rel=1e-12, abs=1e-12)


# ------------------------------------------------------------------------------ 1. dev sold


def test_dev_sold_flag_cumsum_and_spikes_with_null_as_zero() -> None:
    out = create_pump_detection_features(frame(6, dev_sold_amount=[0, None, 2, 0, 0, 0]), W23)
    assert col(out, "dev_sold_flag") == [0, 0, 1, 0, 0, 0]
    assert col(out, "dev_sold_cumsum") == [0, 0, 2, 2, 2, 2]
    assert col(out, "dev_sold_spike_2") == [0, 0, 1, 1, 0, 0]
    assert col(out, "dev_sold_spike_3") == [0, 0, 1, 1, 1, 0]


def test_dev_sold_with_infinities() -> None:
    out = create_pump_detection_features(frame(4, dev_sold_amount=[INF, -INF, 1, -1]), (2,))
    assert col(out, "dev_sold_flag") == [1, 0, 1, 0]
    # running sum: inf, inf + -inf = NaN, NaN, NaN → all 0 at the end
    assert col(out, "dev_sold_cumsum") == [0, 0, 0, 0]
    # windows skip ±inf: {} → NaN, {} → NaN, {1} → 1 > 0, {1, -1} → 0
    assert col(out, "dev_sold_spike_2") == [0, 0, 1, 0]


# --------------------------------------------------------------------------- 2. buy pressure


def test_buy_pressure_null_counts_as_zero_in_the_mean() -> None:
    out = create_pump_detection_features(frame(4, buy_pressure_ratio=[0.2, None, 0.8, 0.5]), W23)
    assert col(out, "buy_pressure_ma_2") == approx([0.2, 0.1, 0.4, 0.65])
    assert col(out, "buy_pressure_trend_2") == approx([0.0, -0.1, 0.4, -0.15])
    assert col(out, "buy_pressure_ma_3") == approx([0.2, 0.1, 1 / 3, 1.3 / 3])
    assert col(out, "buy_pressure_trend_3") == approx([0.0, -0.1, 0.8 - 1 / 3, 0.5 - 1.3 / 3])


# ---------------------------------------------------------------------------------- 3. whales


def test_whale_net_volume_and_activity() -> None:
    out = create_pump_detection_features(
        frame(3, whale_buy_volume_sol=[1, None, 3], whale_sell_volume_sol=[0.5, 2, None]), W23
    )
    assert col(out, "whale_net_volume") == approx([0.5, -2, 3])
    assert col(out, "whale_activity_2") == approx([1.5, 3.5, 5])
    assert col(out, "whale_activity_3") == approx([1.5, 3.5, 6.5])


# ------------------------------------------------------------------------------ 4. volatility


def test_volatility_windows_skip_nulls_and_spike_is_strict() -> None:
    out = create_pump_detection_features(frame(5, volatility_pct=[None, 2, None, 4, 13]), W23)
    # row 0's window holds only NULL → NaN → 0
    assert col(out, "volatility_ma_2") == approx([0, 2, 2, 4, 8.5])
    assert col(out, "volatility_ma_3") == approx([0, 2, 2, 3, 8.5])
    # 13 > 1.5 × 8.5 = 12.75; a NULL volatility never spikes
    assert col(out, "volatility_spike_2") == [0, 0, 0, 0, 1]
    assert col(out, "volatility_spike_3") == [0, 0, 0, 0, 1]


def test_volatility_equal_to_one_and_a_half_ma_is_not_a_spike() -> None:
    out = create_pump_detection_features(frame(2, volatility_pct=[2, 6]), (2,))
    assert col(out, "volatility_ma_2") == [2, 4]
    assert col(out, "volatility_spike_2") == [0, 0]  # 6 > 6 is false


# ---------------------------------------------------------------------------- 5. wash trading


def test_wash_trading_flag() -> None:
    out = create_pump_detection_features(
        frame(5, unique_signer_ratio=[0.1, None, 0.3, 0.05, 0.0]), W23
    )
    # w=2 means: 0.1, 0.1, 0.3, 0.175, 0.025; w=3: 0.1, 0.1, 0.2, 0.175, 0.11666
    assert col(out, "wash_trading_flag_2") == [1, 1, 0, 0, 1]
    assert col(out, "wash_trading_flag_3") == [1, 1, 0, 0, 1]


def test_wash_trading_window_of_only_nulls_is_not_flagged() -> None:
    out = create_pump_detection_features(frame(2, unique_signer_ratio=[None, None]), W23)
    assert col(out, "wash_trading_flag_2") == [0, 0]


# ------------------------------------------------------------------------------ 6. net volume


def test_net_volume_ma_and_flip() -> None:
    out = create_pump_detection_features(frame(6, net_volume_sol=[1, -1, None, 2, 0, 3]), W23)
    assert col(out, "net_volume_ma_2") == approx([1, 0, -1, 2, 1, 1.5])
    assert col(out, "net_volume_ma_3") == approx([1, 0, 0, 0.5, 1, 5 / 3])
    # states (> 0): T F F(NULL) T F(0) T; the first row has no previous row
    assert col(out, "volume_flip_2") == [0, 1, 0, 1, 1, 1]
    assert col(out, "volume_flip_3") == [0, 1, 0, 1, 1, 1]


# ---------------------------------------------------------------------------------- 7. price


def test_price_change_vs_w_rows_earlier_with_division_by_zero() -> None:
    out = create_pump_detection_features(
        frame(5, price_close=[0, 2, 0, 4, 5], price_high=[10] * 5), W23
    )
    # w=2: rows 0,1 have no row 2 earlier; 0/0 → NaN; 4/2-1 = 100 %; 5/0 → inf
    assert col(out, "price_change_2") == approx([0, 0, 0, 100, 0])
    # w=3: 4/0 → inf; 5/2 - 1 = 150 %
    assert col(out, "price_change_3") == approx([0, 0, 0, 0, 150])
    assert col(out, "price_roc_2") == col(out, "price_change_2")
    assert col(out, "price_roc_3") == col(out, "price_change_3")


def test_price_change_ordinary_values() -> None:
    out = create_pump_detection_features(
        frame(3, price_close=[2, 3, 1.5], price_high=[9] * 3), (1, 2)
    )
    assert col(out, "price_change_1") == approx([0, 50, -50])
    assert col(out, "price_change_2") == approx([0, 0, -25])


def test_infinite_price_gives_zero_then_minus_100() -> None:
    out = create_pump_detection_features(
        frame(3, price_close=[1, INF, 2], price_high=[9] * 3), (1,)
    )
    assert col(out, "price_change_1") == approx([0, 0, -100])  # inf/1-1 → 0; 2/inf-1 = -1


# --------------------------------------------------------------------------------- 8. volume


def test_volume_ratio_and_spike_with_sample_std() -> None:
    out = create_pump_detection_features(frame(6, volume_sol=[2, 4, 4, 4, 0, 6]), W23)
    r2, r3 = math.sqrt(2), math.sqrt(3)
    assert col(out, "volume_ratio_2") == approx([1, 4 / 3, 1, 1, 0, 2])
    # one row: std NaN → 0; constant window {4, 4}: 0/0 → 0
    assert col(out, "volume_spike_2") == approx([0, 1 / r2, 0, 0, -1 / r2, 1 / r2])
    assert col(out, "volume_ratio_3") == approx([1, 4 / 3, 1.2, 1, 0, 1.8])
    # {2,4,4}: std 2/√3; {4,4,4}: 0; {4,4,0}: std 4/√3; {4,0,6}: std √(28/3)
    expected_3 = [0, 1 / r2, 1 / r3, 0, -2 / r3, (8 / 3) / math.sqrt(28 / 3)]
    assert col(out, "volume_spike_3") == approx(expected_3)


def test_constant_window_has_its_exact_mean_and_zero_std() -> None:
    # as pandas: the mean of {0.1, 0.1, 0.1} is 0.1 (a plain sum / 3 gives 0.10000000000000002)
    # and the std is 0, so the spike is 0/0 → 0 instead of rounding noise
    out = create_pump_detection_features(frame(3, volume_sol=[0.1, 0.1, 0.1]), (3,))
    assert col(out, "volume_ratio_3") == [1, 1, 1]
    assert col(out, "volume_spike_3") == [0, 0, 0]
    out = create_pump_detection_features(frame(3, buy_pressure_ratio=[0.7, 0.7, 0.7]), (3,))
    assert col(out, "buy_pressure_ma_3") == [0.7, 0.7, 0.7]
    assert col(out, "buy_pressure_trend_3") == [0, 0, 0]


def test_zero_volume_window_divides_by_zero() -> None:
    out = create_pump_detection_features(frame(2, volume_sol=[0, 0]), (2,))
    assert col(out, "volume_ratio_2") == [0, 0]
    assert col(out, "volume_spike_2") == [0, 0]


def test_infinite_volume_is_skipped_by_windows() -> None:
    out = create_pump_detection_features(frame(3, volume_sol=[1, INF, 1]), (2,))
    # means skip inf: 1, 1, 1; row 1: inf / 1 → inf → 0
    assert col(out, "volume_ratio_2") == [1, 0, 1]
    assert col(out, "volume_spike_2") == [0, 0, 0]  # at most one usable value per window


# -------------------------------------------------------------------------- 9. market cap


def test_mcap_velocity_is_a_percent_with_null_and_zero() -> None:
    # training: (mc − mc.shift(w)) / mc.shift(w) × 100, a percent like price_change_w
    out = create_pump_detection_features(
        frame(6, market_cap_close=[100, None, 150, 0, 300, 50]), W23
    )
    # w=2: (150-100)/100·100; 0 vs NULL → NaN; (300-150)/150·100; 50 vs 0 → inf
    assert col(out, "mcap_velocity_2") == approx([0, 0, 50, 0, 100, 0])
    # w=3: (0-100)/100·100; 300 vs NULL → NaN; (50-150)/150·100
    assert col(out, "mcap_velocity_3") == approx([0, 0, 0, -100, 0, -200 / 3])


# ------------------------------------------------------------------------------------- ATH

ATH_MINUTES = [0, 10, 12, 20, 100]
ATH_HIGH = [2, 1, 3, 2.5, 4]
ATH_CLOSE = [2, 1, 3, 2, 4]
ATH_VOLUME = [10, 20, 30, 40, 50]


def ath_frame(rows: int = 5) -> pd.DataFrame:
    df = frame(
        5,
        minutes=ATH_MINUTES,
        price_high=ATH_HIGH,
        price_close=ATH_CLOSE,
        volume_sol=ATH_VOLUME,
    )
    return df.iloc[:rows]


def test_ath_features_with_the_quirk_before_the_first_breakout() -> None:
    out = add_ath_features(ath_frame())
    assert col(out, "rolling_ath") == [2, 2, 3, 3, 4]
    assert col(out, "ath_breakout") == [0, 0, 1, 0, 1]  # 3 > 2, 2.5 > 3 no, 4 > 3
    assert col(out, "ath_distance_pct") == approx([0, 50, 0, 100 / 3, 0])
    # rows 0 and 1 precede the first breakout: 0, not minutes since the first row (10)
    assert col(out, "minutes_since_ath") == [0, 0, 0, 8, 0]
    assert col(out, "ath_age_hours") == approx([0, 0, 0, 8 / 60, 0])
    assert col(out, "ath_is_recent") == [0, 0, 1, 1, 1]
    assert col(out, "ath_is_old") == [0, 0, 0, 0, 0]


def test_ath_as_of_a_snapshot_before_any_breakout() -> None:
    out = create_pump_detection_features(ath_frame(rows=2), W23)
    last = out.iloc[-1]
    assert last["minutes_since_ath"] == 10  # since the coin's first row
    assert last["ath_age_hours"] == pytest.approx(10 / 60)
    assert last["ath_is_recent"] == 1
    assert last["ath_age_trend_2"] == 5  # mean(0, 10)
    assert last["ath_age_trend_3"] == 5


def test_ath_window_features_over_the_whole_history() -> None:
    out = create_pump_detection_features(ath_frame(), W23)
    assert col(out, "ath_distance_trend_2") == approx([0, 25, 25, 50 / 3, 50 / 3])
    assert col(out, "ath_distance_trend_3") == approx([0, 25, 50 / 3, 250 / 9, 100 / 9])
    # "fell vs the previous row": equal means (25 → 25, 16.7 → 16.7) are not a fall
    assert col(out, "ath_approach_2") == [0, 0, 0, 1, 0]
    assert col(out, "ath_approach_3") == [0, 0, 1, 0, 1]
    assert col(out, "ath_breakout_count_2") == [0, 0, 1, 1, 1]
    assert col(out, "ath_breakout_count_3") == [0, 0, 1, 1, 2]
    # breakout × volume = 0, 0, 30, 0, 50
    assert col(out, "ath_breakout_volume_ma_2") == approx([0, 0, 15, 15, 25])
    assert col(out, "ath_breakout_volume_ma_3") == approx([0, 0, 10, 10, 80 / 3])
    # minutes since ATH (whole history) 0, 0, 0, 8, 0
    assert col(out, "ath_age_trend_2") == approx([0, 0, 0, 4, 4])
    assert col(out, "ath_age_trend_3") == approx([0, 0, 0, 8 / 3, 8 / 3])


def test_ath_without_breakout_counts_from_the_first_row() -> None:
    out = add_ath_features(
        frame(3, minutes=[0, 30, 1500], price_high=[3, 2, 1], price_close=[3, 2, 1])
    )
    assert col(out, "ath_breakout") == [0, 0, 0]
    assert col(out, "minutes_since_ath") == [0, 30, 1500]
    assert col(out, "ath_age_hours") == approx([0, 0.5, 25])
    assert col(out, "ath_is_recent") == [1, 1, 0]
    assert col(out, "ath_is_old") == [0, 0, 1]
    assert col(out, "ath_distance_pct") == approx([0, 100 / 3, 200 / 3])


def test_ath_recent_and_old_bounds_are_strict() -> None:
    out = add_ath_features(frame(3, minutes=[0, 60, 1440]))
    assert col(out, "ath_is_recent") == [1, 0, 0]
    assert col(out, "ath_is_old") == [0, 0, 0]


def test_ath_of_zero_gives_zero_distance() -> None:
    out = add_ath_features(frame(3, price_high=[0, 0, 2], price_close=[0, 0, 1]))
    assert col(out, "rolling_ath") == [0, 0, 2]
    assert col(out, "ath_distance_pct") == [0, 0, 50]
    assert col(out, "ath_breakout") == [0, 0, 1]


def test_infinite_high() -> None:
    out = add_ath_features(frame(3, price_high=[1, INF, 2], price_close=[1, 1, 1]))
    assert col(out, "ath_breakout") == [0, 1, 0]
    assert col(out, "rolling_ath") == [1, 0, 0]  # inf → 0 at the end
    assert col(out, "ath_distance_pct") == [0, 0, 0]  # (inf - 1) / inf = NaN → 0


def test_seconds_are_fractions_of_minutes() -> None:
    out = add_ath_features(frame(2, minutes=[0, 0.5], price_high=[2, 1]))
    assert col(out, "minutes_since_ath") == [0, 0.5]


# ----------------------------------------------------------------------- history and frames


def test_rows_with_null_price_or_volume_are_not_part_of_the_history() -> None:
    df = frame(
        5,
        price_close=[1, None, 1, 1, 1],
        price_high=[1, 1, 1, None, 1],
        volume_sol=[2, 4, 6, 8, None],
    )
    out = create_pump_detection_features(df, (1, 2))
    assert list(out.index) == [0, 2]
    assert col(out, "volume_ratio_2") == approx([1, 6 / 4])  # window {2, 6}
    assert col(out, "price_change_1") == [0, 0]


def test_result_is_a_new_frame_with_original_then_added_columns() -> None:
    df = frame(4)
    df["note"] = ["a", "b", "c", "d"]
    before = df.copy()
    out = create_pump_detection_features(df)
    pd.testing.assert_frame_equal(df, before)  # input untouched
    names = list(ATH_FEATURE_NAMES) + get_engineered_feature_names()
    assert list(out.columns) == [*df.columns, *names]
    assert len(names) == 67
    added = out[names].to_numpy()
    assert added.dtype == np.float64
    assert np.isfinite(added).all()
    assert list(out["note"]) == ["a", "b", "c", "d"]


def test_timestamp_index_decimals_and_unsorted_rows_give_the_same_features() -> None:
    df = frame(
        6,
        minutes=[0, 1, 2, 3, 4, 5],
        price_close=[1, 2, 1.5, 3, 2.5, 4],
        price_high=[1, 2.5, 2, 3, 3, 4.5],
        volume_sol=[1, 2, 3, 4, 5, 6],
    )
    expected = create_pump_detection_features(df, W23)
    shuffled = df.iloc[[3, 0, 5, 1, 4, 2]].copy()
    for name in DEFAULTS:
        shuffled[name] = pd.Series(
            [Decimal(str(v)) for v in shuffled[name]], index=shuffled.index, dtype=object
        )
    shuffled = shuffled.set_index("timestamp")
    got = create_pump_detection_features(shuffled, W23)
    names = get_engineered_feature_names(W23) + list(ATH_FEATURE_NAMES)
    np.testing.assert_allclose(
        got[names].to_numpy(), expected[names].to_numpy(), rtol=1e-12, atol=0
    )
    assert list(got.index) == list(df["timestamp"])


def test_several_coins_are_computed_separately() -> None:
    a = frame(4, price_close=[1, 2, 3, 4], price_high=[1, 2, 3, 4])
    b = frame(3, minutes=[0.5, 1.5, 2.5], price_close=[5, 4, 6], price_high=[5, 4, 6])
    b["mint"] = "OTHER"
    both = pd.concat([a, b], ignore_index=True).sample(frac=1.0, random_state=3)
    out = create_pump_detection_features(both, W23)
    names = get_engineered_feature_names(W23)
    for coin, alone in (("COIN", a), ("OTHER", b)):
        np.testing.assert_array_equal(
            out.loc[out["mint"] == coin, names].to_numpy(),
            create_pump_detection_features(alone, W23)[names].to_numpy(),
        )


def test_missing_columns_and_timestamp_are_refused() -> None:
    with pytest.raises(ValueError, match="volatility_pct"):
        create_pump_detection_features(frame(2).drop(columns=["volatility_pct"]))
    with pytest.raises(ValueError, match="timestamp"):
        create_pump_detection_features(frame(2).drop(columns=["timestamp"]))
    with pytest.raises(ValueError, match="window"):
        create_pump_detection_features(frame(2), (5, 5))


def test_empty_history() -> None:
    out = create_pump_detection_features(frame(2, price_close=[None, None]))
    assert len(out) == 0
    assert "volume_spike_15" in out.columns
