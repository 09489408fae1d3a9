"""The replay's vectorised window facts pick the rows ``rules.facts_from_rows`` picks."""

from __future__ import annotations

from datetime import timedelta

import numpy as np

from ml_prediction_service.db.replays_repo import CoinPlan
from ml_prediction_service.evaluation import rules
from ml_prediction_service.evaluation.replay import (
    CHUNK_COINS,
    CHUNK_ROWS,
    chunks,
    to_datetime,
    window_indices,
)


def test_window_indices_equal_facts_from_rows_with_gaps_ties_and_nulls() -> None:
    rng = np.random.default_rng(5)
    for trial in range(40):
        n = int(rng.integers(1, 60))
        steps = rng.choice([5, 30, 60, 600], size=n) * 1_000_000_000  # gaps longer than a horizon
        t = np.cumsum(steps).astype(np.int64) + 1_700_000_000_000_000_000
        v = rng.choice([1.0, 2.0, 2.0, 3.0, np.nan, np.inf], size=n)  # ties, NULLs, inf
        rows = np.arange(n, dtype=np.int64)
        minutes = int(rng.choice([1, 5, 10]))
        horizon = t + minutes * 60 * 1_000_000_000
        got = window_indices(t, v, rows, horizon)
        stamps = [to_datetime(int(x)) for x in t]
        values = [None if np.isnan(x) else float(x) for x in v]
        for i in range(n):
            facts = rules.facts_from_rows(stamps, values, i, stamps[i] + timedelta(minutes=minutes))
            assert stamps[int(got.end[i])] == facts.end_timestamp, (trial, i)
            for index, value, at in (
                (got.max_i[i], facts.max_value, facts.max_at),
                (got.min_i[i], facts.min_value, facts.min_at),
            ):
                if value is None:
                    assert index == -1, (trial, i)
                else:
                    assert (float(v[index]), stamps[int(index)]) == (value, at), (trial, i)


def test_chunks_cover_every_coin_once_within_the_bounds() -> None:
    half, third = CHUNK_ROWS // 2, CHUNK_ROWS // 3
    plan = CoinPlan([f"C{i}" for i in range(7)], [9, 8, 7, 6, 5, 4, 3])
    history = [half, half, 2 * CHUNK_ROWS, third, 10, 10, 10]  # one coin longer than a chunk
    got = chunks(plan, history)
    assert [m for mints in got for m in mints] == plan.mints
    assert got == [["C0", "C1"], ["C2"], ["C3", "C4", "C5", "C6"]]
    many = CoinPlan([f"C{i}" for i in range(CHUNK_COINS + 1)], [1] * (CHUNK_COINS + 1))
    assert [len(m) for m in chunks(many, [1] * (CHUNK_COINS + 1))] == [CHUNK_COINS, 1]
