"""Plotly figures of the UI (pure functions of API data; no Streamlit here)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import plotly.graph_objects as go

from ml_prediction_service.ui.format import fmt_threshold, parse_ts
from ml_prediction_service.ui.outcomes import Outcome, alert_hover, outcome
from ml_prediction_service.ui.rates import RatePoint

PALETTE = ("#636EFA", "#EF553B", "#00CC96", "#AB63FA", "#FFA15A", "#19D3F3", "#FF6692")
PRICE_COLOR = "#2a3f5f"
ALERT_COLOR = "#d62728"
# An alert's mark in the coin view by its outcome.
OUTCOME_COLORS: dict[Outcome, str] = {
    "came_true": "#2ca02c",
    "not_true": "#d62728",
    "not_applicable": "#9e9e9e",
    "pending": "#9e9e9e",
}
NO_HORIZON = {"result": "not_applicable", "target_hit": None, "note": "no horizon: a nowcast"}
MARK_EDGE = "#333333"  # not the model's colour: a grey mark on a green line must stay grey
LEGEND: dict[Outcome, str] = {
    "came_true": "alert came true",
    "not_true": "alert did not come true",
    "not_applicable": "alert not evaluated (yet)",
    "pending": "alert not evaluated (yet)",
}


def model_colors(model_ids: Sequence[int]) -> dict[int, str]:
    """A stable colour per active model id (same id, same colour on every page)."""
    return {mid: PALETTE[mid % len(PALETTE)] for mid in model_ids}


def _layout(fig: go.Figure, height: int) -> go.Figure:
    fig.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
        hovermode="x unified",
        template="plotly_white",
    )
    return fig


def _threshold_lines(fig: go.Figure, thresholds: dict[int, float], colors: dict[int, str]) -> None:
    """One dashed line per distinct alert threshold (in the model's colour if it is one)."""
    shared: dict[float, list[int]] = {}
    for mid, value in thresholds.items():
        shared.setdefault(round(value, 4), []).append(mid)
    for value, mids in shared.items():
        color = colors[mids[0]] if len(mids) == 1 else "#7f7f7f"
        label = f"threshold {fmt_threshold(value)}"
        fig.add_hline(
            y=value,
            yref="y2",
            line={"color": color, "dash": "dash", "width": 1},
            annotation_text=label + (f" ({len(mids)} models)" if len(mids) > 1 else ""),
            annotation_position="top right",
            annotation_font_color=color,
        )


def _probabilities(predictions: Sequence[dict[str, Any]], **style: Any) -> go.Scatter:
    """One model's predictions as probability over data time, on the right axis."""
    return go.Scatter(
        x=[parse_ts(p["data_timestamp"]) for p in predictions],
        y=[p["probability"] for p in predictions],
        yaxis="y2",
        **style,
    )


def coin_figure(
    metrics: Sequence[dict[str, Any]],
    predictions: Sequence[dict[str, Any]],
    models: Sequence[dict[str, Any]],
    *,
    evaluations: Mapping[int, dict[str, Any]] | None = None,
    log_price: bool = True,
    height: int = 460,
) -> go.Figure:
    """price_close over time (left axis) and each model's probability (right axis, 0-1),
    alerts as markers on their model's line (green when the alert came true, red when it did
    not, grey before its evaluation or without one; ``evaluations`` by prediction id), each
    model's alert threshold as a dashed line."""
    fig = go.Figure()
    seen: set[Outcome] = set()
    rows = [m for m in metrics if m.get("price_close") is not None]
    fig.add_trace(
        go.Scatter(
            x=[parse_ts(m["timestamp"]) for m in rows],
            y=[m["price_close"] for m in rows],
            name="price_close (SOL)",
            mode="lines",
            line={"color": PRICE_COLOR, "width": 2},
            yaxis="y",
        )
    )
    names = {int(m["id"]): str(m["name"]) for m in models}
    # models known to have no horizon: their alerts are never evaluated (not "pending")
    nowcasts = {int(m["id"]) for m in models if "future_minutes" in m and not m["future_minutes"]}
    thresholds = {int(m["id"]): float(m["alert_threshold"]) for m in models}
    by_model: dict[int, list[dict[str, Any]]] = {}
    for p in predictions:
        if p.get("active_model_id") is not None:
            by_model.setdefault(int(p["active_model_id"]), []).append(p)
    colors = model_colors(sorted(set(by_model) | set(names)))
    for mid in sorted(by_model):
        points = sorted(by_model[mid], key=lambda p: str(p["data_timestamp"]))
        name = names.get(mid) or points[-1].get("model_name") or f"model {mid}"
        fig.add_trace(
            _probabilities(
                points,
                name=f"P({name})",
                legendgroup=f"model-{mid}",
                mode="lines+markers",
                marker={"size": 4},
                line={"color": colors[mid], "width": 1.5, "shape": "hv"},
            )
        )
        alerts = [p for p in points if p.get("is_alert")]
        found = [(evaluations or {}).get(int(p["id"])) if "id" in p else None for p in alerts]
        if mid in nowcasts:
            found = [e or NO_HORIZON for e in found]
        marks = [outcome(e) for e in found]
        seen.update(marks)
        fig.add_trace(
            _probabilities(
                alerts,
                name=f"alert: {name}",
                legendgroup=f"model-{mid}",
                showlegend=False,
                mode="markers",
                hovertext=[alert_hover(p, e) for p, e in zip(alerts, found, strict=True)],
                hovertemplate="%{hovertext}<extra></extra>",
                marker={
                    "symbol": "triangle-up",
                    "size": 10,
                    "color": [OUTCOME_COLORS[m] for m in marks],
                    "line": {"color": MARK_EDGE, "width": 1},
                },
            )
        )
    _threshold_lines(fig, {mid: t for mid, t in thresholds.items() if mid in by_model}, colors)
    legend = {LEGEND[m]: OUTCOME_COLORS[m] for m in OUTCOME_COLORS if m in seen}
    for label, color in legend.items():  # one legend entry per kind of mark on the chart
        fig.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                name=label,
                mode="markers",
                marker={
                    "symbol": "triangle-up",
                    "size": 10,
                    "color": color,
                    "line": {"color": MARK_EDGE, "width": 1},
                },
                yaxis="y2",
            )
        )
    fig.update_layout(
        yaxis={
            "title": {"text": "price_close (SOL)"},
            "type": "log" if log_price else "linear",
            "exponentformat": "e",
        },
        yaxis2={
            "title": {"text": "probability"},
            "overlaying": "y",
            "side": "right",
            "range": [0, 1.02],
            "tickmode": "linear",
            "tick0": 0,
            "dtick": 0.2,
            "tickformat": ".0%",
            "showgrid": False,
        },
        xaxis={"title": {"text": "data timestamp (UTC)"}},
    )
    return _layout(fig, height)


def rates_figure(points: Sequence[RatePoint], *, height: int = 260) -> go.Figure:
    """events/s and predictions/s over the last minutes."""
    stamps = [datetime.fromtimestamp(p.at, tz=UTC) for p in points]
    fig = go.Figure()
    series: tuple[tuple[str, list[float], str, dict[str, Any]], ...] = (
        ("events/s", [p.events_per_second for p in points], PALETTE[0], {"fill": "tozeroy"}),
        ("predictions/s", [p.predictions_per_second for p in points], PALETTE[2], {}),
    )
    for name, values, color, extra in series:
        line = {"color": color, "shape": "spline"}
        fig.add_trace(go.Scatter(x=stamps, y=values, name=name, mode="lines", line=line, **extra))
    fig.update_layout(yaxis={"title": {"text": "per second"}, "rangemode": "tozero"})
    return _layout(fig, height)


def calibration_figure(bins: Sequence[dict[str, Any]], *, height: int = 360) -> go.Figure:
    """Observed frequency against mean predicted probability per decile (markers sized by
    count, the count as text), with the diagonal of perfect calibration."""
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=[0, 1],
            y=[0, 1],
            name="perfectly calibrated",
            mode="lines",
            line={"color": "#7f7f7f", "dash": "dash", "width": 1},
        )
    )
    filled = [b for b in bins if b.get("count")]
    biggest = max((int(b["count"]) for b in filled), default=1)
    fig.add_trace(
        go.Scatter(
            x=[b["mean_probability"] for b in filled],
            y=[b["observed_frequency"] for b in filled],
            name="observed (per decile)",
            mode="lines+markers+text",
            text=[f"n={b['count']}" for b in filled],
            textposition="top center",
            customdata=[[b["lower"], b["upper"], b["count"]] for b in filled],
            hovertemplate=(
                "decile %{customdata[0]:.0%}–%{customdata[1]:.0%}<br>predicted %{x:.1%}<br>"
                "observed %{y:.1%}<br>%{customdata[2]} predictions<extra></extra>"
            ),
            marker={
                "color": PALETTE[0],
                "size": [8 + 14 * int(b["count"]) / biggest for b in filled],
            },
            line={"color": PALETTE[0], "width": 1.5},
        )
    )
    percent = {"range": [0, 1.02], "tickformat": ".0%", "dtick": 0.1}
    fig.update_layout(
        xaxis={**percent, "title": {"text": "predicted probability (mean of the decile)"}},
        yaxis={**percent, "title": {"text": "observed frequency (target hit)"}},
    )
    _layout(fig, height)
    fig.update_layout(hovermode="closest")
    return fig


def precision_figure(
    points: Sequence[dict[str, Any]], *, floor: float | None = None, height: int = 320
) -> go.Figure:
    """Alert precision per hour or day (line), the alerts per step (bars, right axis), and the
    precision floor as a dashed line when one is set."""
    stamps = [parse_ts(p["start"]) for p in points]
    fig = go.Figure()
    fig.add_trace(
        go.Bar(
            x=stamps,
            y=[p["alerts"] for p in points],
            name="evaluated alerts",
            marker={"color": "#c7d2fe"},
            yaxis="y2",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=stamps,
            y=[p["precision"] for p in points],
            name="alert precision",
            mode="lines+markers",
            connectgaps=False,
            line={"color": PALETTE[2], "width": 2},
        )
    )
    if floor:
        fig.add_hline(
            y=floor,
            line={"color": ALERT_COLOR, "dash": "dash", "width": 1},
            annotation_text=f"floor {fmt_threshold(floor)}",
            annotation_position="top right",
            annotation_font_color=ALERT_COLOR,
        )
    fig.update_layout(
        yaxis={"title": {"text": "alert precision"}, "range": [0, 1.02], "tickformat": ".0%"},
        yaxis2={
            "title": {"text": "alerts"},
            "overlaying": "y",
            "side": "right",
            "rangemode": "tozero",
            "showgrid": False,
        },
        xaxis={"title": {"text": "data time (UTC)"}},
    )
    return _layout(fig, height)
