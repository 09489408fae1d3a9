"""The soak run's summary (the last stdout line) and its HTML report: one self-contained
file, charts as inline SVG drawn here (no script, no network)."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ml_prediction_service.bench.soak_probe import Sample

MB = 1024 * 1024


def p99_window(minutes: int) -> int:
    """Windows pooled for the first/last p99: 5, fewer in a run shorter than 10 (never
    overlapping)."""
    return max(1, min(5, minutes // 2))


def default_warmup(minutes: int) -> int:
    """Windows left out of the RSS growth fit: 5, or a third of a shorter run."""
    return min(5, minutes // 3)


def full_load_start(samples: Sequence[Sample]) -> int | None:
    """Index of the first window in which every kind of work the run does has begun: the
    live evaluator stored outcomes (once the models' horizons passed) and retention dropped
    a partition. Before it, the service does less than it does for the rest of its life, so
    the first windows are a lighter workload than the last ones. None when the run never got
    there."""
    evaluated = dropped = False
    for i, s in enumerate(samples):
        evaluated |= s.evaluations > 0
        dropped |= any(n > 0 for n in s.partitions_dropped.values())
        if evaluated and dropped:
            return i
    return None


def _pooled_p99(latencies: Sequence[Sequence[float]]) -> float | None:
    values = [v for window in latencies for v in window]
    return round(float(np.percentile(values, 99)), 2) if values else None


def _slope_per_hour(samples: Sequence[Sample], values: Sequence[float | None]) -> float | None:
    """Least-squares slope of ``values`` against the windows' end times, per hour."""
    points = [(i, v) for i, v in enumerate(values) if v is not None]
    if len(points) < 2:
        return None
    seconds = np.cumsum([s.seconds for s in samples])
    x = np.array([seconds[i] / 3600 for i, _ in points])
    y = np.array([v for _, v in points])
    if float(np.ptp(x)) == 0.0:
        return None
    return round(float(np.polyfit(x, y, 1)[0]), 2)


def summarize(
    samples: Sequence[Sample],
    latencies: Sequence[Sequence[float]],
    warmup: int,
    context: dict[str, Any],
) -> dict[str, Any]:
    """The figures of the run (the soak's last line)."""
    n = len(samples)
    k = p99_window(n)
    first, last = _pooled_p99(latencies[:k]), _pooled_p99(latencies[-k:])
    # the same comparison between two windows of the full workload (only when they do not
    # overlap): does the service slow down as it runs, apart from the work that starts late
    start = full_load_start(samples)
    full = None
    if start is not None and start + k <= n - k:
        full = _pooled_p99(latencies[start : start + k])
    fit = samples[warmup:] if n - warmup >= 2 else samples
    rss = [s.rss_bytes / MB if s.rss_bytes is not None else None for s in fit]
    db = [s.db_size_bytes / MB for s in fit]
    errors: dict[str, int] = {}
    for s in samples:
        for kind, count in s.errors_by_type.items():
            errors[kind] = errors.get(kind, 0) + count
    end = samples[-1] if samples else None
    rates = [s.events_per_s for s in samples]
    beyond_cache = [
        (s.rss_bytes - s.coin_cache_bytes) / MB if s.rss_bytes is not None else None for s in fit
    ]
    return {
        "first_5min_p99_ms": first,
        "last_5min_p99_ms": last,
        "p99_ratio": round(last / first, 3) if first and last is not None else None,
        "p99_window_minutes": k,
        "full_load_from_minute": samples[start].minute if start is not None else None,
        "full_load_first_5min_p99_ms": full,
        "full_load_p99_ratio": round(last / full, 3) if full and last is not None else None,
        "rss_growth_mb_per_hour": _slope_per_hour(fit, rss),
        "rss_fit_minutes": [fit[0].minute, fit[-1].minute] if fit else None,
        "rss_growth_mb_per_hour_beyond_cache": _slope_per_hour(fit, beyond_cache),
        "coin_cache_mb_end": _mb(end.coin_cache_bytes) if end else None,
        "coins_tracked_end": end.coins_tracked if end else 0,
        "rss_source": "service subprocess (/proc/<pid>/status VmRSS)",
        "rss_start_mb": _mb(samples[0].rss_bytes) if samples else None,
        "rss_end_mb": _mb(end.rss_bytes) if end else None,
        "db_size_end_bytes": end.db_size_bytes if end else None,
        "db_size_max_bytes": max(s.db_size_bytes for s in samples) if samples else None,
        "db_growth_mb_per_hour": _slope_per_hour(fit, db),
        "tables_end_bytes": end.tables if end else {},
        "errors": sum(errors.values()),
        "errors_by_type": errors,
        "partitions_dropped": end.partitions_dropped if end else {},
        "events_per_s_mean": round(float(np.mean(rates)), 1) if rates else 0.0,
        "events_per_s_min": min(rates) if rates else 0.0,
        "events_processed": sum(s.events_processed for s in samples),
        "rows_inserted": sum(s.rows_inserted for s in samples),
        "max_backlog_events": max((s.backlog_events for s in samples), default=0),
        "webhook_deliveries": sum(s.webhook_deliveries for s in samples),
        "webhook_lag_p99_ms_max": max(
            (s.webhook_lag_p99_ms for s in samples if s.webhook_lag_p99_ms is not None),
            default=None,
        ),
        "load_average_max": max((s.load_average for s in samples), default=0.0),
        "health_query_ms_max": max((s.health_query_ms for s in samples), default=0.0),
        **context,
    }


def _mb(value: int | None) -> float | None:
    return round(value / MB, 1) if value is not None else None


# -- SVG charts ------------------------------------------------------------------------------

_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2")
_W, _H, _L, _R, _T, _B = 720, 260, 70, 170, 30, 40


def _ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / count
    step = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if raw <= factor * step:
            step *= factor
            break
    first = math.floor(lo / step) * step
    out = [first]
    for _ in range(count * 3):  # bounded: about ``count`` steps reach ``hi``
        if out[-1] >= hi:
            break
        out.append(round(out[-1] + step, 12))
    return out


def _fmt(value: float) -> str:
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:g}" if value == int(value) else f"{value:.2f}".rstrip("0").rstrip(".")


def svg_chart(
    title: str, x: Sequence[float], series: dict[str, Sequence[float | None]], unit: str
) -> str:
    """A line chart with a legend; None values leave a gap."""
    values = [v for ys in series.values() for v in ys if v is not None]
    lo = min(0.0, min(values)) if values else 0.0
    hi = max(values) if values else 1.0
    ticks = _ticks(lo, hi if hi > lo else lo + 1.0)
    y_lo, y_hi = ticks[0], ticks[-1]
    x_lo, x_hi = (min(x), max(x)) if x else (0.0, 1.0)
    if x_hi == x_lo:
        x_lo, x_hi = x_lo - 1, x_hi + 1
    pw, ph = _W - _L - _R, _H - _T - _B

    def px(v: float) -> float:
        return _L + (v - x_lo) / (x_hi - x_lo) * pw

    def py(v: float) -> float:
        return _T + ph - (v - y_lo) / (y_hi - y_lo) * ph

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" '
        f'viewBox="0 0 {_W} {_H}" role="img" aria-label="{html.escape(title)}">',
        f'<text x="{_L}" y="18" font-size="14" font-weight="bold">{html.escape(title)}</text>',
        f'<rect x="{_L}" y="{_T}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>',
    ]
    for t in ticks:
        y = py(t)
        out.append(f'<line x1="{_L}" x2="{_L + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>')
        out.append(
            f'<text x="{_L - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end">{_fmt(t)}</text>'
        )
    for v in sorted(set(x)) if len(x) <= 12 else _ticks(x_lo, x_hi, 8):
        if x_lo <= v <= x_hi:
            out.append(
                f'<text x="{px(v):.1f}" y="{_T + ph + 16}" font-size="11" '
                f'text-anchor="middle">{_fmt(v)}</text>'
            )
    out.append(
        f'<text x="{_L + pw / 2}" y="{_H - 6}" font-size="11" text-anchor="middle">minute</text>'
    )
    out.append(
        f'<text x="14" y="{_T + ph / 2}" font-size="11" text-anchor="middle" '
        f'transform="rotate(-90 14 {_T + ph / 2})">{html.escape(unit)}</text>'
    )
    for i, (name, ys) in enumerate(series.items()):
        colour = _COLOURS[i % len(_COLOURS)]
        runs: list[list[str]] = [[]]
        for xv, yv in zip(x, ys, strict=True):
            if yv is None:
                runs.append([])
            else:
                runs[-1].append(f"{px(xv):.1f},{py(yv):.1f}")
        for run in runs:
            if len(run) > 1:
                out.append(
                    f'<polyline fill="none" stroke="{colour}" stroke-width="2" '
                    f'points="{" ".join(run)}"/>'
                )
            for point in run:
                cx, cy = point.split(",")
                out.append(f'<circle cx="{cx}" cy="{cy}" r="2.5" fill="{colour}"/>')
        ly = _T + 14 + i * 16
        out.append(
            f'<rect x="{_L + pw + 10}" y="{ly - 9}" width="10" height="10" fill="{colour}"/>'
        )
        out.append(
            f'<text x="{_L + pw + 24}" y="{ly}" font-size="11">{html.escape(name[:24])}</text>'
        )
    out.append("</svg>")
    return "\n".join(out)


def _charts(samples: Sequence[Sample]) -> list[str]:
    x = [float(s.minute) for s in samples]
    big_tables = sorted(
        {name for s in samples for name in s.tables},
        key=lambda name: -max(s.tables.get(name, 0) for s in samples),
    )[:6]
    dropped = sorted({name for s in samples for name in s.partitions_dropped})
    return [
        svg_chart(
            "Events per second",
            x,
            {
                "processed": [s.events_per_s for s in samples],
                "inserted": [s.rows_inserted / s.seconds if s.seconds else None for s in samples],
            },
            "events/s",
        ),
        svg_chart(
            "Commit → prediction latency",
            x,
            {
                "p50": [s.latency_p50_ms for s in samples],
                "p99": [s.latency_p99_ms for s in samples],
            },
            "ms",
        ),
        svg_chart(
            "Webhook lag (written → delivered)",
            x,
            {
                "p50": [s.webhook_lag_p50_ms for s in samples],
                "p99": [s.webhook_lag_p99_ms for s in samples],
            },
            "ms",
        ),
        svg_chart(
            "Service RSS",
            x,
            {"RSS": [_mb(s.rss_bytes) for s in samples]},
            "MB",
        ),
        svg_chart(
            "Database size and the biggest tables (indexes included)",
            x,
            {
                "database": [s.db_size_bytes / MB for s in samples],
                **{name: [s.tables.get(name, 0) / MB for s in samples] for name in big_tables},
            },
            "MB",
        ),
        svg_chart(
            "Partitions dropped by retention (since the start)",
            x,
            {name: [s.partitions_dropped.get(name, 0) for s in samples] for name in dropped}
            or {"none": [0 for _ in samples]},
            "partitions",
        ),
        svg_chart(
            "Errors and backlog",
            x,
            {
                "errors": [s.errors for s in samples],
                "webhook retries": [s.webhook_retries for s in samples],
                "events pending": [s.backlog_events for s in samples],
            },
            "count",
        ),
        svg_chart(
            "Pipeline stages (worker seconds per window)",
            x,
            {
                name: [s.stage_seconds.get(name) for s in samples]
                for name in sorted(
                    {n for s in samples for n in s.stage_seconds},
                    key=lambda n: -max(s.stage_seconds.get(n, 0.0) for s in samples),
                )[:7]
            }
            or {"none": [0 for _ in samples]},
            "s",
        ),
        svg_chart(
            "Query times: the health probe's count, this sample's own queries",
            x,
            {
                "health probe query": [s.health_query_ms for s in samples],
                "sample queries": [s.probe_ms for s in samples],
            },
            "ms",
        ),
    ]


def html_report(samples: Sequence[Sample], summary: dict[str, Any]) -> str:
    """The whole report: the run's settings and figures, the charts, the samples' table."""
    rows = "\n".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in summary.items()
        if k != "tables_end_bytes"
    )
    sizes = "\n".join(
        f"<tr><th>{html.escape(name)}</th><td>{size / MB:.1f} MB</td></tr>"
        for name, size in summary.get("tables_end_bytes", {}).items()
    )
    head = (
        "minute",
        "events/s",
        "inserted",
        "p50 ms",
        "p99 ms",
        "hook p99 ms",
        "RSS MB",
        "DB MB",
        "pending",
        "errors",
        "load",
        "health query ms",
    )
    table = "\n".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(str(v))}</td>"
            for v in (
                s.minute,
                s.events_per_s,
                s.rows_inserted,
                s.latency_p50_ms,
                s.latency_p99_ms,
                s.webhook_lag_p99_ms,
                _mb(s.rss_bytes),
                _mb(s.db_size_bytes),
                s.backlog_events,
                s.errors,
                s.load_average,
                s.health_query_ms,
            )
        )
        + "</tr>"
        for s in samples
    )
    charts = "\n".join(f"<div>{c}</div>" for c in _charts(samples))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>ml-prediction-service soak</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; font-size: 13px; }}
th, td {{ border: 1px solid #ccc; padding: 2px 8px; text-align: right; }}
th {{ background: #f4f4f4; text-align: left; }}
.charts {{ display: flex; flex-wrap: wrap; gap: 1em; }}
</style></head><body>
<h1>Soak run</h1>
<table>{rows}</table>
<div class="charts">{charts}</div>
<h2>Tables at the end (partitions summed, indexes included)</h2>
<table>{sizes}</table>
<h2>Every window</h2>
<table><tr>{"".join(f"<th>{h}</th>" for h in head)}</tr>
{table}</table>
</body></html>
"""
