"""Alerts: a live feed of alert predictions (auto-refresh), each linked to its coin view."""

from __future__ import annotations

import streamlit as st

from ml_prediction_service.ui import common
from ml_prediction_service.ui.client import Json
from ml_prediction_service.ui.format import ago, fmt_int

FEED_SIZES = (25, 50, 100)


def feed() -> None:
    models: list[Json] = common.fetch(lambda api: api.models(include_inactive=True))
    names = {int(m["id"]): str(m["name"]) for m in models}
    cols = st.columns([2, 1, 3], vertical_alignment="bottom")
    model_id = cols[0].selectbox(
        "Model",
        [None, *names],
        format_func=lambda m: "All models" if m is None else names[m],
        key="alerts_model",
    )
    size = int(cols[1].selectbox("Show", FEED_SIZES, key="alerts_size"))
    result = common.fetch(
        lambda api: api.predictions(is_alert=True, active_model_id=model_id, limit=size)
    )
    alerts: list[Json] = result["predictions"]
    newest = alerts[0].get("created_at") if alerts else None
    cols[2].caption(
        f"{fmt_int(result['total'])} alerts in total · newest stored {ago(newest)} · "
        "refreshes every few seconds"
    )
    common.alert_feed(alerts, key="alerts")


def render() -> None:
    common.live_page("Alerts", feed, toggle=f"Live (refresh every {common.LIVE_REFRESH_SECONDS} s)")


if __name__ == "__main__":
    render()
