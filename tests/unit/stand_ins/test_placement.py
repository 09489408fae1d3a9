"""Placement: a replayed coin's past goes behind "now", never ahead of its insert time."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pytest

from ml_prediction_service.stand_ins.placement import anchor_epoch, newest_age
from ml_prediction_service.stand_ins.simulator import SimConfig, plan_coins, simulate_coin
from ml_prediction_service.stand_ins.stream import SimulationStream

LAUNCH = 1_800_000_000.5  # a wall time with a fraction


@pytest.mark.parametrize("speed", [0.5, 1.0, 2.0, 60.0, 3600.0, math.inf])
def test_no_row_is_stamped_after_its_insert_time(speed: float) -> None:
    sim = SimConfig(n_coins=12, seed=3)
    for spec in plan_coins(sim):
        coin = simulate_coin(spec, sim)
        if not len(coin):
            continue
        ages = coin.offsets - coin.offsets[0]
        newest = newest_age(coin, math.inf)
        assert newest == int(ages[-1])
        anchor = anchor_epoch(LAUNCH, newest, speed)
        inserted = LAUNCH + ages / speed  # the replay reaches age a at launch + a / speed
        assert np.all(anchor + ages <= inserted)
        if speed >= 1:  # the newest row is stamped when it goes in (to the second)
            assert inserted[-1] - (anchor + ages[-1]) < 1.0


def test_real_time_launches_now_and_an_instant_replay_ends_now() -> None:
    assert anchor_epoch(LAUNCH, 3600, 1.0) == math.floor(LAUNCH)
    assert anchor_epoch(LAUNCH, 3600, 0.25) == math.floor(LAUNCH)
    assert anchor_epoch(LAUNCH, 3600, math.inf) == math.floor(LAUNCH) - 3600
    assert anchor_epoch(LAUNCH, 3600, 60.0) == math.floor(LAUNCH - 3540)
    with pytest.raises(ValueError):
        anchor_epoch(LAUNCH, 10, 0.0)


def test_newest_age_stops_at_the_horizon() -> None:
    sim = SimConfig(n_coins=30, seed=4)
    coin = max((simulate_coin(s, sim) for s in plan_coins(sim)), key=len)
    first = int(coin.offsets[0])
    assert newest_age(coin, first - 1) is None
    assert newest_age(coin, first) == 0
    assert newest_age(coin, first + 12.9) == 10  # Baby Zone: a row every 5 s
    assert newest_age(coin, first + 650) == 630  # Survival Zone: every 30 s from 600 s


def test_the_stream_names_the_coins_each_pull_launches() -> None:
    sim = SimConfig(n_coins=10, seed=6, start=datetime(2025, 1, 1, tzinfo=UTC))
    stream = SimulationStream(sim)
    seen: list[int] = []
    for until in range(0, 4000, 100):  # bounded: all launch within the hour
        block = stream.take_until(until)
        launched = [c.spec.index for c in stream.launched]
        assert set(block.coins.tolist()) <= {*seen, *launched}
        seen += launched
    with_rows = [s.index for s in plan_coins(sim) if len(simulate_coin(s, sim))]
    assert seen == with_rows
