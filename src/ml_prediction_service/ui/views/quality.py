"""Alert quality: did the alerts come true? Every model's live figures beside training's
(``GET /api/alerts/statistics``), and for one model its calibration, precision over time,
the precision floor flag (``/health``) and its evaluated alerts (``GET /api/evaluations``)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ml_prediction_service.ui import common
from ml_prediction_service.ui.charts import calibration_figure, precision_figure
from ml_prediction_service.ui.client import ApiClient, Json
from ml_prediction_service.ui.format import fmt_int, fmt_move, fmt_prob, target_text
from ml_prediction_service.ui.outcomes import (
    NO_ALERTS_YET,
    WINDOWS,
    alert_rows,
    floor_entry,
    quality_rows,
)

ALERT_LIST = 100
PERCENT = "percent"


def _table(models: list[Json]) -> None:
    frame = pd.DataFrame(quality_rows(models))
    share = {
        name: st.column_config.NumberColumn(name, format=PERCENT)
        for name in (
            "alert precision",
            "training precision",
            "base rate",
            "training base rate",
            "hit rate",
            "accuracy",
        )
    }
    st.dataframe(
        frame,
        hide_index=True,
        key="quality_table",
        column_config={
            **share,
            "active": st.column_config.CheckboxColumn("active"),
            "mean move after alert": st.column_config.NumberColumn(
                "mean move after alert", format="%+.2f%%"
            ),
        },
    )
    st.caption(
        "Live figures count evaluated predictions (success or failed) whose data time is in "
        "the window; precision = alerts that came true / evaluated alerts; base rate = share "
        "of evaluated predictions whose target was hit; hit rate = the same among predictions "
        "of 1. Training figures are the training service's, copied at import."
    )


def _model_detail(model: Json, window: str, health: Json) -> None:
    mid = int(model["active_model_id"])

    def load(api: ApiClient) -> tuple[Json, Json]:
        stats = api.model_statistics(mid, window)
        alerts = api.evaluations(active_model_id=mid, is_alert=True, limit=ALERT_LIST)
        return stats, alerts

    stats, alerts = common.fetch(load)
    st.subheader(stats["name"])
    threshold = fmt_prob(stats["alert_threshold"])
    st.caption(f"Predicts {target_text(stats)} · alert threshold {threshold}")
    if not stats["evaluable"]:
        st.info(
            f"**No outcome evaluation for this model:** {stats['reason']}. Its predictions "
            "are counted as not applicable; a model needs a horizon (future_minutes) to be "
            "judged against what happened afterwards.",
            icon=":material/rule:",
        )
        return
    below = floor_entry(health, mid)
    if below is not None:
        st.error(
            f"**Below the precision floor:** live alert precision {fmt_prob(below['precision'])} "
            f"over its last {fmt_int(below['alerts'])} evaluated alerts is below "
            f"ALERT_PRECISION_FLOOR {fmt_prob(below['floor'])} (health is degraded).",
            icon=":material/trending_down:",
        )
    cols = st.columns(5)
    cols[0].metric("Alert precision", fmt_prob(stats["alert_precision"]))
    training = (stats.get("training_metrics") or {}).get("training_precision")
    cols[1].metric("Training precision", fmt_prob(training))
    cols[2].metric("Evaluated alerts", fmt_int(stats["alerts"]))
    cols[3].metric("Base rate", fmt_prob(stats["base_rate"]))
    cols[4].metric("Mean move after alert", fmt_move(stats["mean_move_after_alert"]))
    if not stats["evaluated"] and alerts["total"]:
        st.info(
            "No evaluated predictions in this window: choose a longer one (its evaluated "
            "alerts of any time are listed below).",
            icon=":material/date_range:",
        )
    elif not stats["evaluated"]:
        st.info(
            NO_ALERTS_YET.format(minutes=stats.get("future_minutes") or "?"),
            icon=":material/hourglass_empty:",
        )
    else:
        left, right = st.columns(2)
        with left:
            st.markdown("##### Calibration")
            st.plotly_chart(
                calibration_figure(stats["calibration"]),
                key="quality_calibration",
                config={"displaylogo": False},
            )
        with right:
            st.markdown(f"##### Precision over time (per {stats['bucket']})")
            st.plotly_chart(
                precision_figure(
                    stats["precision_over_time"],
                    floor=float(below["floor"]) if below else None,
                ),
                key="quality_precision",
                config={"displaylogo": False},
            )
    _alert_list(alerts, stats)


def _alert_list(alerts: Json, stats: Json) -> None:
    items: list[Json] = alerts["items"]
    st.markdown(f"##### Evaluated alerts ({fmt_int(alerts['total'])}, newest first)")
    if not items:
        if stats["evaluated"]:  # else the empty state above already says why
            st.info(
                "None of its evaluated predictions was an alert (in any window yet).",
                icon=":material/notifications_off:",
            )
        return
    st.table(pd.DataFrame(alert_rows(items)).set_index("coin"))
    if alerts["total"] > len(items):
        st.caption(f"Showing the newest {len(items)} (all windows).")
    else:
        st.caption("All windows (the list is not limited to the window above).")


def render() -> None:
    common.page("Alert quality")
    cols = st.columns([1.2, 3], vertical_alignment="bottom")
    label = cols[0].radio("Window", list(WINDOWS), index=1, horizontal=True, key="quality_window")
    window = WINDOWS[label]
    cols[1].caption("By data time of the predictions, relative to now.")
    result, health = common.fetch(lambda api: (api.alert_statistics(window), api.health()))
    models: list[Json] = result["models"]
    if not models:
        st.info("No models imported yet: import one on the Models page.")
        return
    _table(models)
    names = {int(m["active_model_id"]): str(m["name"]) for m in models}
    evaluable = [mid for mid, m in zip(names, models, strict=True) if m.get("evaluable")]
    chosen = st.selectbox(
        "Model",
        list(names),
        index=list(names).index(evaluable[0]) if evaluable else 0,
        format_func=lambda mid: names[mid],
        key="quality_model",
    )
    _model_detail(next(m for m in models if int(m["active_model_id"]) == chosen), window, health)


if __name__ == "__main__":
    render()
