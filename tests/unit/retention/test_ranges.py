"""Partition ranges and names, and the interval setting (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ml_prediction_service.config import SettingsError, load_settings, parse_interval
from ml_prediction_service.db.partitions import align_down, align_up, partition_name, wanted_ranges

TEN = timedelta(minutes=10)
DAY = timedelta(days=1)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_boundaries_are_multiples_of_the_interval_in_utc() -> None:
    assert align_down(at("2026-12-02 09:37:12"), TEN) == at("2026-12-02 09:30:00")
    assert align_down(at("2026-12-02 09:30:00"), TEN) == at("2026-12-02 09:30:00")
    assert align_up(at("2026-12-02 09:30:00"), TEN) == at("2026-12-02 09:30:00")
    assert align_up(at("2026-12-02 09:30:01"), TEN) == at("2026-12-02 09:40:00")
    assert align_down(at("2026-12-02 23:59:59"), DAY) == at("2026-12-02 00:00:00")
    assert partition_name("predictions", at("2026-12-02 09:30:00")) == "predictions_p20261202_0930"


def test_intervals_under_a_minute_align_and_name_by_the_second() -> None:
    ten_s = timedelta(seconds=10)
    assert align_down(at("2026-12-02 09:30:17"), ten_s) == at("2026-12-02 09:30:10")
    assert align_up(at("2026-12-02 09:30:17"), ten_s) == at("2026-12-02 09:30:20")
    names = [
        partition_name("predictions", lo)
        for lo, _ in wanted_ranges(None, at("2026-12-02 09:29:47"), ten_s, 2)
    ]
    # on a whole minute the name keeps its minute form; every name is distinct
    assert names == [
        "predictions_p20261202_092940",
        "predictions_p20261202_092950",
        "predictions_p20261202_0930",
    ]


def test_ranges_continue_from_the_newest_and_reach_ahead() -> None:
    now = at("2026-12-02 09:37:00")
    ranges = wanted_ranges(at("2026-12-02 09:50:00"), now, TEN, 3)
    # current is 09:30; 3 ahead: up to 10:10
    assert ranges == [
        (at("2026-12-02 09:50:00"), at("2026-12-02 10:00:00")),
        (at("2026-12-02 10:00:00"), at("2026-12-02 10:10:00")),
    ]
    assert wanted_ranges(at("2026-12-02 10:10:00"), now, TEN, 3) == []


def test_after_a_gap_ranges_start_at_the_current_interval() -> None:
    now = at("2026-12-02 09:37:00")
    ranges = wanted_ranges(at("2026-12-01 00:00:00"), now, TEN, 1)
    assert ranges == [
        (at("2026-12-02 09:30:00"), at("2026-12-02 09:40:00")),
        (at("2026-12-02 09:40:00"), at("2026-12-02 09:50:00")),
    ]
    assert wanted_ranges(None, now, TEN, 1) == ranges


def test_a_changed_interval_first_fills_up_to_its_next_boundary() -> None:
    # daily partitions ended at midnight; now 10 minutes: no gap, no overlap
    now = at("2026-12-02 23:55:00")
    ranges = wanted_ranges(at("2026-12-03 00:00:00"), now, TEN, 2)  # up to 23:50 + 3 x 10 min
    assert ranges == [
        (at("2026-12-03 00:00:00"), at("2026-12-03 00:10:00")),
        (at("2026-12-03 00:10:00"), at("2026-12-03 00:20:00")),
    ]
    # from 10 minutes (ending at 00:10) to a day: the first range ends at midnight
    ranges = wanted_ranges(at("2026-12-03 00:10:00"), at("2026-12-03 00:05:00"), DAY, 1)
    assert ranges[0] == (at("2026-12-03 00:10:00"), at("2026-12-04 00:00:00"))
    assert ranges[1] == (at("2026-12-04 00:00:00"), at("2026-12-05 00:00:00"))


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1 day", 86400),
        ("10 minutes", 600),
        ("10 min", 600),
        ("6h", 21600),
        ("2 days", 172800),
        ("30 s", 30),
        ("90 seconds", 90),
        ("10 seconds", 10),
    ],
)
def test_interval_texts(text: str, seconds: int) -> None:
    assert parse_interval(text) == timedelta(seconds=seconds)
    settings = load_settings(_env_file=None, partition_interval=text)
    assert settings.partition_interval == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["5 s", "90.5 seconds", "40 days", "often"])
def test_intervals_that_cannot_name_partitions_are_refused(text: str) -> None:
    with pytest.raises(SettingsError, match="PARTITION_INTERVAL"):
        load_settings(_env_file=None, partition_interval=text)
