"""``rules.facts_at`` (the live evaluator's windows, cut from a coin's rows read once) gives
``rules.facts_from_rows``'s facts, and the old per-window query's when the prediction's own
row is gone."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np

from ml_prediction_service.evaluation import rules

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _same(a: rules.WindowFacts, b: rules.WindowFacts) -> bool:
    """Equal facts, NaN compared as a value."""
    fields = [
        "start_value",
        "end_value",
        "end_timestamp",
        "max_value",
        "max_at",
        "min_value",
        "min_at",
        "last_timestamp",
    ]
    for name in fields:
        x, y = getattr(a, name), getattr(b, name)
        if isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y):
            continue
        if x != y:
            return False
    return True


def test_every_window_of_a_coin_equals_facts_from_rows() -> None:
    rng = np.random.default_rng(7)
    for trial in range(60):
        n = int(rng.integers(1, 80))
        steps = rng.choice([5, 5, 30, 60, 900], size=n)  # some gaps longer than a horizon
        stamps = [T0 + timedelta(seconds=int(s)) for s in np.cumsum(steps)]
        choices = [1.0, 2.0, 2.0, 3.0, math.nan, math.inf, -math.inf, None]  # ties, non-finite
        values = [choices[int(i)] for i in rng.integers(0, len(choices), size=n)]
        finite = rules.finite_values(values)
        minutes = int(rng.choice([1, 5, 10]))
        for i in range(n):
            horizon = stamps[i] + timedelta(minutes=minutes)
            want = rules.facts_from_rows(stamps, values, i, horizon)
            got = rules.facts_at(stamps, values, stamps[i], horizon, stamps[-1], finite)
            assert _same(got, want), (trial, i)
            # without the shared finite list, and from a slice that starts one row earlier
            lo = max(i - 1, 0)
            part = rules.facts_at(stamps[lo:], values[lo:], stamps[i], horizon, stamps[-1])
            assert _same(part, want), (trial, i)


def test_a_window_whose_own_row_is_gone() -> None:
    s = timedelta(seconds=5)
    stamps = [T0, T0 + s, T0 + 2 * s, T0 + 4 * s]
    values: list[float | None] = [1.0, 4.0, 2.0, 3.0]
    last = T0 + 9 * s
    # between rows: no start value; the extremes from the rows after it
    f = rules.facts_at(stamps, values, T0 + s / 2, T0 + 3 * s, last)
    assert f.start_value is None
    assert (f.max_value, f.max_at, f.min_value, f.min_at) == (4.0, T0 + s, 2.0, T0 + 2 * s)
    assert (f.end_value, f.end_timestamp, f.last_timestamp) == (2.0, T0 + 2 * s, last)
    # no row inside: the end is the newest row before the prediction's time
    f = rules.facts_at(stamps, values, T0 + 2 * s + s / 2, T0 + 3 * s, last)
    assert (f.start_value, f.max_value, f.min_value) == (None, None, None)
    assert (f.end_value, f.end_timestamp) == (2.0, T0 + 2 * s)
    # before the coin's first row, nothing up to the horizon: no end either
    f = rules.facts_at(stamps, values, T0 - 9 * s, T0 - s, last)
    assert (f.start_value, f.end_value, f.end_timestamp, f.max_at) == (None, None, None, None)
    # no rows at all (the coin has none in the range)
    f = rules.facts_at([], [], T0, T0 + s, None)
    assert f == rules.WindowFacts(None, None, None, None, None, None, None, None)
    assert rules.evaluate(f, rules.EvaluationTarget(1, 5.0, "up"), 1, T0 + s).result == (
        "not_applicable"
    )
