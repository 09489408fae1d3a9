"""Overview: health, pipeline, throughput, active models, latest alerts."""

from __future__ import annotations

from typing import Any

import streamlit as st

from ml_prediction_service.ui import common
from ml_prediction_service.ui.charts import rates_figure
from ml_prediction_service.ui.client import ApiClient, Json
from ml_prediction_service.ui.format import (
    ago,
    fmt_int,
    fmt_rate,
    fmt_span,
    fmt_threshold,
    model_type,
    runtime_text,
    target_kind,
    target_text,
)

CARDS_PER_ROW = 3


def _load(api: ApiClient) -> tuple[Json, Json, list[Json], list[Json]]:
    health = api.health()
    stats = api.stats()
    models = api.models(include_inactive=False)
    alerts = api.predictions(is_alert=True, limit=8)["predictions"]
    return health, stats, models, alerts


def _health(health: Json) -> None:
    pipeline: dict[str, Any] = health.get("pipeline") or {}
    if not pipeline.get("enabled", True):
        events_in = "pipeline off"
    elif health.get("use_listen_notify"):
        events_in = "LISTEN/NOTIFY"
    elif pipeline.get("polling"):
        events_in = "polling fallback"
    else:
        events_in = "reconnecting"
    oldest = pipeline.get("oldest_pending_seconds")
    cols = st.columns(5)
    cols[0].metric("Status", str(health.get("status", "?")), border=True)
    cols[1].metric("Database", "connected" if health.get("db_connected") else "down", border=True)
    cols[2].metric(
        "Listener",
        "connected" if pipeline.get("listener_connected") else "not connected",
        delta=events_in,
        delta_color="off",
        border=True,
    )
    cols[3].metric(
        "Events pending",
        fmt_int(pipeline.get("events_pending", 0)),
        delta=f"oldest {fmt_span(oldest)}" if oldest else None,
        delta_color="off",
        border=True,
    )
    cols[4].metric("Uptime", fmt_span(float(health.get("uptime_seconds") or 0)), border=True)
    for reason in health.get("reasons") or []:
        st.warning(f"Degraded: {reason}", icon=":material/warning:")
    for failed in health.get("models_failed") or []:
        st.error(
            f"Model **{failed['name']}** (id {failed['id']}) cannot be served: {failed['error']}",
            icon=":material/error:",
        )


def _throughput(health: Json, stats: Json) -> None:
    tracker = common.record_rates(health, stats)
    now = tracker.current(60)
    hour = int(stats.get("predictions_last_hour") or 0)
    avg = stats.get("avg_prediction_time_ms")
    cols = st.columns(5)
    cols[0].metric("Events/s (last min)", fmt_rate(now.events_per_second if now else None))
    cols[1].metric(
        "Predictions/s (last min)",
        fmt_rate(now.predictions_per_second if now else None),
        delta=f"{hour / 3600:.2f}/s over 1 h",
        delta_color="off",
    )
    cols[2].metric("Predictions (last hour)", fmt_int(hour))
    cols[3].metric("Coins (last hour)", fmt_int(stats.get("coins_tracked")))
    cols[4].metric("Mean prediction time", f"{float(avg):.1f} ms" if avg is not None else "–")
    series = tracker.series()
    if len(series) >= 2:
        st.plotly_chart(rates_figure(series), key="rates_chart", config={"displaylogo": False})
    else:
        st.caption(
            "Rates are measured from the API's counters while this UI is open: the chart "
            f"fills in over the next refreshes (every {common.LIVE_REFRESH_SECONDS} s)."
        )


def _model_card(model: Json) -> None:
    with st.container(border=True):
        st.markdown(f"**{model['name']}**")
        st.markdown(
            f":blue-badge[{model_type(model['model_type'])}] "
            f":violet-badge[{target_kind(model)}] "
            + (
                ":green-badge[loaded]"
                if (model.get("runtime") or {}).get("status") == "loaded"
                else f":orange-badge[{(model.get('runtime') or {}).get('status', '?')}]"
            )
        )
        st.caption(f"Target: `{target_text(model)}`")
        st.markdown(
            f"Alert threshold **{fmt_threshold(model['alert_threshold'])}**  \n"
            f"Predictions **{fmt_int(model.get('total_predictions'))}**  \n"
            f"Last prediction **{ago(model.get('last_prediction_at'))}**"
        )
        st.caption(f"Runtime: {runtime_text(model)}")


def _models(models: list[Json]) -> None:
    if not models:
        st.info("No active models: import or activate one on the Models page.")
        st.page_link("views/models.py", label="Go to Models", icon=":material/model_training:")
        return
    per_row = 4 if len(models) == 4 else CARDS_PER_ROW  # four fit in one row
    for start in range(0, len(models), per_row):
        cols = st.columns(per_row)
        for col, model in zip(cols, models[start : start + per_row], strict=False):
            with col:
                _model_card(model)


def body() -> None:
    health, stats, models, alerts = common.fetch(_load)
    st.subheader("Health")
    _health(health)
    st.subheader("Throughput")
    _throughput(health, stats)
    st.subheader(f"Active models ({len(models)})")
    _models(models)
    st.subheader("Latest alerts")
    common.alert_feed(alerts, key="overview")
    st.page_link("views/alerts.py", label="All alerts", icon=":material/notifications_active:")


def render() -> None:
    common.live_page("Overview", body, toggle=f"Auto-refresh every {common.LIVE_REFRESH_SECONDS} s")


if __name__ == "__main__":
    render()
