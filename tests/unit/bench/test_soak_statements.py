"""The soak's per-window SQL profile: the difference of two pg_stat_statements readings."""

from __future__ import annotations

from ml_prediction_service.bench.soak_probe import window_statements

QUERY_IDS = {"claim": 11, "insert": 12, "fresh": 13, "a": 21, "b": 22, "c": 23}


def reading(**totals: tuple[int, float, int]) -> dict[int, dict[str, object]]:
    """pg_stat_statements as read at one moment: queryid -> totals so far."""
    return {
        QUERY_IDS[q]: {"query": q, "calls": c, "total_ms": t, "rows": r}
        for q, (c, t, r) in totals.items()
    }


def test_a_window_counts_only_its_own_calls_costliest_first() -> None:
    before = reading(claim=(100, 500.0, 100), insert=(50, 900.0, 5000))
    now = reading(claim=(300, 2500.0, 300), insert=(60, 1000.0, 6000), fresh=(4, 40.0, 4))
    got = window_statements(before, now, 10)
    assert [g["query"] for g in got] == ["claim", "insert", "fresh"]
    assert got[0] == {
        "query": "claim",
        "calls": 200,
        "total_ms": 2000,
        "ms_per_call": 10.0,
        "rows": 200,
    }
    assert got[1]["calls"] == 10 and got[1]["ms_per_call"] == 10.0 and got[1]["rows"] == 1000
    assert got[2]["calls"] == 4  # new since the last reading: all of it is this window's


def test_idle_statements_are_left_out_and_the_limit_holds() -> None:
    before = reading(a=(5, 50.0, 5), b=(5, 50.0, 5))
    now = reading(a=(5, 50.0, 5), b=(6, 51.0, 6), c=(1, 500.0, 1))
    got = window_statements(before, now, 1)
    assert [g["query"] for g in got] == ["c"]
    assert [g["query"] for g in window_statements(before, now, 5)] == ["c", "b"]
