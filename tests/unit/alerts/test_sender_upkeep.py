"""How often the sender's upkeep (lost leases, expiry) runs."""

from __future__ import annotations

import pytest

from ml_prediction_service.alerts.sender import maintain_interval


@pytest.mark.parametrize(
    ("max_age", "interval"),
    [(300.0, 10.0), (3600.0, 10.0), (60.0, 2.0), (1.0, 1.0), (0.1, 1.0)],
)
def test_upkeep_runs_every_10_s_or_a_thirtieth_of_the_max_age(
    max_age: float, interval: float
) -> None:
    assert maintain_interval(max_age) == pytest.approx(interval)
