"""The simulator: deterministic, contract-true rows, realistic life cycles."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from ml_prediction_service.stand_ins.ddl import PHASES
from ml_prediction_service.stand_ins.fates import FATES
from ml_prediction_service.stand_ins.simulator import (
    METRIC_COLUMNS,
    NUMERIC_COLUMNS,
    SimConfig,
    plan_coins,
    sampling_schedule,
    simulate_coin,
)
from ml_prediction_service.stand_ins.stream import RowBlock, SimulationStream, simulate_frame
from tests.support.contract_rules import rule_violations, sequence_violations

START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def _config(**kw: object) -> SimConfig:
    base: dict[str, object] = {"n_coins": 40, "seed": 11, "start": START}
    base.update(kw)
    return SimConfig(**base)  # type: ignore[arg-type]


def _assert_blocks_equal(a: RowBlock, b: RowBlock) -> None:
    assert a.mints.tolist() == b.mints.tolist()
    np.testing.assert_array_equal(a.offsets, b.offsets)
    np.testing.assert_array_equal(a.coins, b.coins)
    for name in METRIC_COLUMNS:
        np.testing.assert_array_equal(a.columns[name], b.columns[name], err_msg=name)


def test_same_seed_same_rows_different_seed_different_rows() -> None:
    first = SimulationStream(_config(null_fraction=0.01)).take_all()
    again = SimulationStream(_config(null_fraction=0.01)).take_all()
    _assert_blocks_equal(first, again)
    other = SimulationStream(_config(seed=12, null_fraction=0.01)).take_all()
    assert first.mints[0] != other.mints[0]


def test_rows_do_not_depend_on_how_the_stream_is_consumed() -> None:
    whole = SimulationStream(_config()).take_all()
    stream = SimulationStream(_config())
    parts = []
    for until in range(0, 200_000, 97):  # bounded: lives end within max age
        parts.append(stream.take_until(until))
        if stream.exhausted:
            break
    assert stream.exhausted
    _assert_blocks_equal(whole, RowBlock.concat(parts, whole.start_epoch))


def test_a_coin_does_not_depend_on_the_number_of_coins() -> None:
    small, large = _config(n_coins=5), _config(n_coins=50)
    coin_small = simulate_coin(plan_coins(small)[3], small)
    spec = plan_coins(large)[3]
    coin_large = simulate_coin(spec, large)
    for name in METRIC_COLUMNS:
        np.testing.assert_array_equal(coin_small.columns[name], coin_large.columns[name])


def test_rows_are_in_timestamp_order() -> None:
    block = SimulationStream(_config()).take_all()
    assert np.all(np.diff(block.offsets) >= 0)
    frame = block.to_frame()
    assert frame["timestamp"].iloc[0] >= pd.Timestamp(START)
    assert str(frame["timestamp"].dt.tz) == "UTC"


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("null_fraction", [0.0, 0.02])
def test_every_derived_column_obeys_the_contract(seed: int, null_fraction: float) -> None:
    frame = simulate_frame(_config(seed=seed, null_fraction=null_fraction))
    assert len(frame) > 1000
    assert rule_violations(frame) == {}
    assert sequence_violations(frame) == {}


def test_the_rule_checker_is_not_vacuous() -> None:
    frame = simulate_frame(_config(n_coins=10))
    broken = frame.copy()
    broken.loc[broken.index[5], "volume_sol"] += 1.0
    broken.loc[broken.index[6], "market_cap_close"] += 1.0
    broken.loc[broken.index[7], "is_koth"] = not broken.loc[broken.index[7], "is_koth"]
    assert set(rule_violations(broken)) >= {
        "volume = buy + sell",
        "market_cap_close = price_close x 1e9",
        "is_koth = market cap > 30,000",
    }
    shifted = frame.copy()
    shifted.loc[shifted.index[3], "timestamp"] += pd.Timedelta(seconds=1)
    assert sequence_violations(shifted)


def test_null_fraction_controls_nulls() -> None:
    clean = simulate_frame(_config(null_fraction=0.0))
    for name in ("price_open", "price_close", "volume_sol", "market_cap_close"):
        assert clean[name].notna().all(), name
    dirty = simulate_frame(_config(null_fraction=0.05))
    share = dirty[list(NUMERIC_COLUMNS)].isna().mean()
    assert 0.03 < share["price_close"] < 0.07
    assert dirty["num_buys"].notna().all()  # counts are never NULL


def test_sampling_schedule_follows_ref_coin_phases() -> None:
    ages, phases = sampling_schedule(1440)
    assert len(ages) == 120 + 100 + 1380
    assert set(np.unique(phases)) == {1, 2, 3}
    intervals = {p.id: p.interval_seconds for p in PHASES}
    for pid in (1, 2, 3):
        steps = np.diff(ages[phases == pid])
        assert set(steps.tolist()) == {intervals[pid]}
    assert [p.id for p in PHASES] == [1, 2, 3, 99, 100]


def test_mixed_fates_show_their_signatures() -> None:
    config = _config(n_coins=120, seed=5)
    fate_of = {c.mint: c.fate for c in plan_coins(config)}
    assert set(fate_of.values()) == set(FATES)
    frame = simulate_frame(config)
    frame["fate"] = frame["mint"].map(fate_of)
    per_coin = frame.groupby("mint").agg(
        fate=("fate", "first"),
        koth=("is_koth", "any"),
        graduated=("phase_id_at_time", lambda s: bool((s == 100).any())),
        dev_sold=("dev_sold_amount", "sum"),
        usr=("unique_signer_ratio", "median"),
        peak=("market_cap_close", "max"),
        last=("market_cap_close", "last"),
    )
    by_fate = per_coin.groupby("fate")
    assert by_fate["koth"].mean()["koth"] > 0.5
    assert not per_coin.loc[per_coin["fate"] != "koth", "koth"].any()
    assert by_fate["graduated"].mean()["graduation"] == 1.0
    rugs = per_coin[(per_coin["fate"] == "rug") & ~per_coin["graduated"]]
    assert len(rugs) > 5
    assert (rugs["dev_sold"] > 0).all()  # a rug that graduated first never got to rug
    assert (per_coin.loc[per_coin["fate"] != "rug", "dev_sold"] == 0).all()
    assert (per_coin.loc[per_coin["fate"] == "wash", "usr"] < 0.15).all()
    assert (per_coin.loc[per_coin["fate"] != "wash", "usr"] > 0.3).all()
    pumps = per_coin[per_coin["fate"] == "pump_dump"]
    assert (pumps["peak"] > 2 * pumps["last"]).mean() > 0.7
    prices = frame["price_close"].dropna()
    assert 1e-9 < prices.median() < 1e-5


def test_config_is_validated() -> None:
    with pytest.raises(ValueError):
        SimConfig(start=datetime(2025, 1, 1))  # naive
    with pytest.raises(ValueError):
        SimConfig(null_fraction=1.5)
    with pytest.raises(ValueError):
        SimConfig(fate_weights=(1.0,))
