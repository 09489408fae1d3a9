"""Plotly figures of the UI (pure functions of API data; no Streamlit here)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import plotly.graph_objects as go

from ml_prediction_service.ui.format import fmt_threshold, parse_ts
from ml_prediction_service.ui.rates import RatePoint

PALETTE = ("#636EFA", "#EF553B", "#00CC96", "#AB63FA", "#FFA15A", "#19D3F3", "#FF6692")
PRICE_COLOR = "#2a3f5f"
ALERT_COLOR = "#d62728"


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
    log_price: bool = True,
    height: int = 460,
) -> go.Figure:
    """price_close over time (left axis) and each model's probability (right axis, 0-1),
    alerts as markers, each model's alert threshold as a dashed line."""
    fig = go.Figure()
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
        fig.add_trace(
            _probabilities(
                alerts,
                name=f"alert: {name}",
                legendgroup=f"model-{mid}",
                showlegend=False,
                mode="markers",
                marker={
                    "symbol": "triangle-up",
                    "size": 8,
                    "color": colors[mid],
                    "line": {"color": ALERT_COLOR, "width": 1.5},
                },
            )
        )
    _threshold_lines(fig, {mid: t for mid, t in thresholds.items() if mid in by_model}, colors)
    if any(p.get("is_alert") for p in predictions):
        fig.add_trace(  # one legend entry that explains the markers
            go.Scatter(
                x=[None],
                y=[None],
                name="alert",
                mode="markers",
                marker={
                    "symbol": "triangle-up",
                    "size": 8,
                    "color": "white",
                    "line": {"color": ALERT_COLOR, "width": 1.5},
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
