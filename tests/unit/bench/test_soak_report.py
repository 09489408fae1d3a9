"""The soak's summary figures, its charts and its reading of the service's metrics (pure)."""

from __future__ import annotations

import xml.dom.minidom

import pytest

from ml_prediction_service.bench.soak_probe import Sample, by_label, parse_metrics, total
from ml_prediction_service.bench.soak_report import (
    MB,
    html_report,
    p99_window,
    summarize,
    svg_chart,
)


def sample(minute: int, rss_mb: float, db_mb: float = 10.0, **extra: object) -> Sample:
    values: dict[str, object] = {
        "minute": minute,
        "start": f"t{minute - 1}",
        "end": f"t{minute}",
        "seconds": 60.0,
        "rows_inserted": 60_000,
        "events_processed": 60_000,
        "events_per_s": 1000.0,
        "events_predicted": 59_000,
        "latency_p50_ms": 10.0,
        "latency_p99_ms": 50.0,
        "webhook_deliveries": 100,
        "webhook_lag_p50_ms": 5.0,
        "webhook_lag_p99_ms": 20.0,
        "backlog_events": 0,
        "webhook_outbox_depth": 0,
        "rss_bytes": int(rss_mb * MB),
        "db_size_bytes": int(db_mb * MB),
        "tables": {"predictions": int(db_mb * MB / 2)},
        "partitions": {"predictions": 6},
        "partitions_dropped": {"predictions": minute},
        "errors": 0,
    }
    values.update(extra)
    return Sample(**values)  # type: ignore[arg-type]


def test_first_and_last_p99_pool_the_windows_and_do_not_overlap() -> None:
    assert [p99_window(n) for n in (1, 2, 6, 9, 10, 30)] == [1, 1, 3, 4, 5, 5]
    samples = [sample(m, 300.0) for m in range(1, 11)]
    fast = [[float(v) for v in range(1, 101)]] * 5  # p99 of 1..100: 99.01
    slow = [[2.0 * v for v in range(1, 101)]] * 5
    summary = summarize(samples, fast + slow, warmup=5, context={"rate": 1000})
    assert summary["first_5min_p99_ms"] == pytest.approx(99.01)
    assert summary["last_5min_p99_ms"] == pytest.approx(198.02)
    assert summary["p99_ratio"] == pytest.approx(2.0)
    assert summary["p99_window_minutes"] == 5
    assert summary["rate"] == 1000


def test_the_full_load_p99_starts_once_evaluations_and_drops_both_began() -> None:
    # evaluations from minute 4, the first drop in minute 6: the full load starts at 6
    samples = [
        sample(
            m,
            300.0,
            evaluations=100 if m >= 4 else 0,
            partitions_dropped={"predictions": max(0, m - 5)},
        )
        for m in range(1, 21)
    ]
    light = [[float(v) for v in range(1, 101)]] * 5  # minutes 1-5: p99 99.01
    full = [[3.0 * v for v in range(1, 101)]] * 10  # minutes 6-15: p99 297.03
    later = [[3.3 * v for v in range(1, 101)]] * 5  # minutes 16-20: p99 326.73
    summary = summarize(samples, light + full + later, warmup=5, context={})
    assert summary["p99_ratio"] == pytest.approx(3.3)
    assert summary["full_load_from_minute"] == 6
    assert summary["full_load_first_5min_p99_ms"] == pytest.approx(297.03)
    assert summary["full_load_p99_ratio"] == pytest.approx(1.1)


def test_no_full_load_ratio_when_the_run_never_got_there_or_the_windows_overlap() -> None:
    never = [sample(m, 300.0, partitions_dropped={}) for m in range(1, 11)]
    summary = summarize(never, [[1.0]] * 10, warmup=5, context={})
    assert summary["full_load_from_minute"] is None
    assert summary["full_load_p99_ratio"] is None
    # the full load from minute 7 of 10: its first 5 windows would overlap the last 5
    late = [sample(m, 300.0, evaluations=int(m >= 7)) for m in range(1, 11)]
    summary = summarize(late, [[1.0]] * 10, warmup=5, context={})
    assert summary["full_load_from_minute"] == 7
    assert summary["full_load_first_5min_p99_ms"] is None
    assert summary["full_load_p99_ratio"] is None


def test_rss_growth_is_the_slope_after_the_warm_up_per_hour() -> None:
    # warm-up: 100 MB → 300 MB in the first two minutes, then +1 MB per minute
    rss = [100.0, 300.0, 301.0, 302.0, 303.0, 304.0]
    samples = [sample(m, r, db_mb=50.0) for m, r in enumerate(rss, start=1)]
    summary = summarize(samples, [[1.0]] * 6, warmup=2, context={})
    assert summary["rss_growth_mb_per_hour"] == pytest.approx(60.0, abs=0.5)
    assert summary["rss_fit_minutes"] == [3, 6]
    assert summary["db_growth_mb_per_hour"] == pytest.approx(0.0, abs=0.5)  # flat
    assert summary["db_size_end_bytes"] == int(50 * MB)
    assert summary["partitions_dropped"] == {"predictions": 6}


def test_errors_add_up_by_type() -> None:
    samples = [
        sample(1, 300, errors=2, errors_by_type={"db": 2}),
        sample(2, 300, errors=3, errors_by_type={"db": 1, "webhook_failed": 2}),
    ]
    summary = summarize(samples, [[1.0], [1.0]], warmup=0, context={})
    assert summary["errors"] == 5
    assert summary["errors_by_type"] == {"db": 3, "webhook_failed": 2}


def test_a_chart_is_svg_covering_every_value_with_gaps_for_missing_ones() -> None:
    svg = svg_chart("lag", [1.0, 2.0, 3.0, 4.0], {"p99": [10.0, None, 179.4, 20.0]}, "ms")
    xml.dom.minidom.parseString(svg)  # well-formed
    assert svg.count("<polyline") == 1  # 1 | gap | 3-4
    assert svg.count("<circle") == 3
    ys = [float(part.split('cy="')[1].split('"')[0]) for part in svg.split("<circle")[1:]]
    assert all(30 <= y <= 220 for y in ys)  # inside the plot area, the top value too


def test_the_report_is_one_file_without_scripts() -> None:
    samples = [sample(1, 300), sample(2, 301)]
    page = html_report(samples, summarize(samples, [[1.0], [2.0]], warmup=0, context={}))
    assert page.startswith("<!DOCTYPE html>") and page.count("<svg") == 9
    assert "<script" not in page and "<link" not in page


def test_metrics_are_read_by_name_and_label() -> None:
    text = (
        "# TYPE ml_errors_total counter\n"
        'ml_errors_total{type="db"} 2.0\n'
        'ml_errors_total{type="prediction"} 1.0\n'
        "# TYPE ml_events_pending gauge\n"
        "ml_events_pending 7.0\n"
        "# TYPE ml_partitions_dropped_total counter\n"
        'ml_partitions_dropped_total{table="predictions"} 4.0\n'
    )
    metrics = parse_metrics(text)
    assert total(metrics, "ml_errors_total") == 3.0
    assert total(metrics, "ml_events_pending") == 7.0
    assert total(metrics, "ml_missing_total") == 0.0
    assert by_label(metrics, "ml_partitions_dropped_total", "table") == {"predictions": 4.0}


def test_rss_growth_beyond_the_cache_leaves_out_the_coin_arrays_growing_in_steps() -> None:
    # the coin cache doubles its arrays twice (a step of RSS each time); besides that
    # something grows 0.1 MB a minute (6 MB/h)
    cache_mb = [16.0, 16.0, 32.0, 32.0, 32.0, 64.0, 64.0, 64.0, 64.0, 64.0]
    rss = [300.0 + c + 0.1 * m for m, c in enumerate(cache_mb, start=1)]
    samples = [
        sample(m, r, coin_cache_bytes=int(c * MB), coins_tracked=1000 * m)
        for m, (r, c) in enumerate(zip(rss, cache_mb, strict=True), start=1)
    ]
    summary = summarize(samples, [[1.0]] * 10, warmup=0, context={})
    assert summary["rss_growth_mb_per_hour_beyond_cache"] == pytest.approx(6.0, abs=0.05)
    assert summary["rss_growth_mb_per_hour"] > 200  # the plain slope carries the steps
    assert summary["coin_cache_mb_end"] == pytest.approx(64.0)
    assert summary["coins_tracked_end"] == 10_000
