"""Predictions: filters (coin, model, alert, time range), a paged table, and the coin view
(price_close with each model's probability, alerts and thresholds)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pandas as pd
import streamlit as st

from ml_prediction_service.ui import common
from ml_prediction_service.ui.charts import coin_figure
from ml_prediction_service.ui.client import ApiClient, Json
from ml_prediction_service.ui.format import fmt_int, fmt_ts, short_coin
from ml_prediction_service.ui.outcomes import by_prediction

ALL = "All"
ALERT_CHOICES = {"All": None, "Alerts only": True, "No alerts": False}
# Time ranges count back from now (the wall clock) over the predictions' data timestamps.
TIME_RANGES: dict[str, timedelta | None] = {
    "All time": None,
    "Last 15 min": timedelta(minutes=15),
    "Last hour": timedelta(hours=1),
    "Last 6 h": timedelta(hours=6),
    "Last 24 h": timedelta(hours=24),
}
PAGE_SIZES = (25, 50, 100, 250)
COIN_PREDICTIONS = 1000
COIN_METRICS = 2000


def _recent_coins(api: ApiClient) -> list[str]:
    """Coins of the newest predictions (newest first)."""
    rows: list[Json] = api.predictions(limit=1000)["predictions"]
    return list(dict.fromkeys(str(r["coin_id"]) for r in rows))


def _filters(
    models: list[Json], coins: list[str]
) -> tuple[str | None, int | None, bool | None, str]:
    wanted = st.query_params.get("coin")
    options = [ALL, *coins]
    if wanted and wanted not in options:
        options.insert(1, wanted)
    cols = st.columns([3, 2, 1.3, 1.6])
    coin = cols[0].selectbox(
        "Coin",
        options,
        index=options.index(wanted) if wanted in options else 0,
        format_func=lambda c: c if c == ALL else f"{short_coin(c)}  ({c})",
        accept_new_options=True,
        key="pred_coin",
        help="Pick a coin (newest first) or type a mint; a coin opens its chart.",
    )
    if coin and coin != ALL:
        st.query_params["coin"] = coin
    elif "coin" in st.query_params:
        del st.query_params["coin"]
    names = {int(m["id"]): str(m["name"]) for m in models}
    model = cols[1].selectbox(
        "Model",
        [None, *names],
        format_func=lambda m: ALL if m is None else names[m],
        key="pred_model",
    )
    alert = cols[2].selectbox("Alerts", list(ALERT_CHOICES), key="pred_alert")
    span = cols[3].selectbox("Time range", list(TIME_RANGES), key="pred_span")
    return (None if coin in (None, ALL) else str(coin)), model, ALERT_CHOICES[alert], span


def _coin_view(coin: str, models: list[Json], model_id: int | None) -> None:
    def load(api: ApiClient) -> tuple[Json, Json, Json]:
        preds = api.predictions(coin_id=coin, active_model_id=model_id, limit=COIN_PREDICTIONS)
        # One list call for the outcomes of the coin's alerts (not one request per alert),
        # joined to the predictions by prediction id.
        outcomes = api.evaluations(
            coin_id=coin, active_model_id=model_id, is_alert=True, limit=COIN_PREDICTIONS
        )
        return preds, api.coin_metrics(coin, limit=COIN_METRICS), outcomes

    preds, metrics, outcomes = common.fetch(load)
    rows: list[Json] = preds["predictions"]
    points: list[Json] = metrics["metrics"]
    st.subheader(f"Coin {short_coin(coin)}")
    st.caption(f"`{coin}`")
    if not rows and not points:
        st.info(f"Nothing known about coin `{coin}` (no metrics, no predictions).")
        return
    shown = [m for m in models if model_id is None or int(m["id"]) == model_id]
    alerts = sum(1 for r in rows if r.get("is_alert"))
    last = points[-1] if points else {}
    cols = st.columns(5)
    cols[0].metric("Price (SOL)", f"{last['price_close']:.3e}" if last.get("price_close") else "–")
    cols[1].metric("Phase", str(last.get("phase_id_at_time") or "–"))
    cols[2].metric("Metric rows", fmt_int(metrics["total"]))
    cols[3].metric("Predictions", fmt_int(preds["total"]))
    cols[4].metric("Alerts", fmt_int(alerts))
    st.caption(
        "Alerts are triangles on their model's line: green when the alert came true (its "
        "target was hit at the horizon), red when it did not, grey before its evaluation (or "
        "for a model without a horizon). Hover one for its reasons and realised move."
    )
    log_price = st.toggle("Logarithmic price axis", value=True, key="coin_log")
    st.plotly_chart(
        coin_figure(
            points, rows, shown, evaluations=by_prediction(outcomes["items"]), log_price=log_price
        ),
        key="coin_chart",
        config={"displaylogo": False},
    )
    if preds["total"] > len(rows) or metrics["total"] > len(points):
        st.caption(f"Showing the newest {len(rows)} predictions and {len(points)} metric rows.")


def _table(rows: list[Json]) -> None:
    frame = pd.DataFrame(
        [
            {
                "data time (UTC)": fmt_ts(r["data_timestamp"]),
                "coin": r["coin_id"],
                "model": r.get("model_name") or r.get("active_model_id"),
                "prediction": int(r["prediction"]),
                "probability": float(r["probability"]),
                "alert": bool(r.get("is_alert")),
                "threshold": r.get("alert_threshold"),
                "phase": r.get("phase_id_at_time"),
                "stale": bool(r.get("is_stale")),
                "ms": r.get("prediction_duration_ms"),
                "stored (UTC)": fmt_ts(r.get("created_at")),
            }
            for r in rows
        ]
    )
    st.dataframe(
        frame,
        hide_index=True,
        key="pred_table",
        column_config={
            "probability": st.column_config.ProgressColumn(
                "probability", min_value=0.0, max_value=1.0, format="percent"
            ),
            "threshold": st.column_config.NumberColumn("threshold", format="%.2f"),
            "alert": st.column_config.CheckboxColumn("alert"),
            "stale": st.column_config.CheckboxColumn("stale"),
        },
    )


def render() -> None:
    common.page("Predictions")
    models, coins = common.fetch(
        lambda api: (api.models(include_inactive=True), _recent_coins(api))
    )
    coin, model_id, is_alert, span = _filters(models, coins)
    window = TIME_RANGES[span]
    since: datetime | None = datetime.now(UTC) - window if window is not None else None
    if coin:
        _coin_view(coin, models, model_id)
    size_col, page_col, info_col = st.columns([1, 1, 3], vertical_alignment="bottom")
    size = int(size_col.selectbox("Rows per page", PAGE_SIZES, index=1, key="pred_size"))
    page = int(page_col.number_input("Page", min_value=1, value=1, step=1, key="pred_page"))
    result = common.fetch(
        lambda api: api.predictions(
            coin_id=coin,
            active_model_id=model_id,
            is_alert=is_alert,
            from_=since.isoformat() if since else None,
            limit=size,
            offset=(page - 1) * size,
        )
    )
    total = int(result["total"])
    pages = max(1, math.ceil(total / size))
    info_col.caption(
        f"{fmt_int(total)} predictions · page {page} of {pages}"
        + (f" · data since {fmt_ts(since)}" if since else "")
    )
    if result["predictions"]:
        _table(result["predictions"])
    elif page > pages:
        st.info(f"There are only {pages} page(s).")
    else:
        st.info("No predictions match these filters.")


if __name__ == "__main__":
    render()
