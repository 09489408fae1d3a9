"""Models: import from the training service, activate/deactivate, rename, alert threshold,
webhook settings, delete (with confirmation), training metrics and features."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from ml_prediction_service.ui import common
from ml_prediction_service.ui.client import ApiClient, Json
from ml_prediction_service.ui.format import (
    ago,
    fmt_int,
    fmt_prob,
    fmt_threshold,
    fmt_ts,
    model_type,
    runtime_text,
    target_kind,
    target_text,
)

SEND_MODES = {
    "all": "every prediction",
    "alerts_only": "alerts",
    "positive_only": "positive predictions",
    "negative_only": "negative predictions",
}
METRIC_NAMES = (
    ("training_accuracy", "Accuracy"),
    ("training_f1", "F1"),
    ("training_precision", "Precision"),
    ("training_recall", "Recall"),
    ("roc_auc", "ROC AUC"),
    ("mcc", "MCC"),
)


# -- actions (widget callbacks: they run before the page is drawn again) ------------------
def _import(model_id: int, name: str) -> None:
    with st.status(f"Importing **{name}** …", expanded=True) as status:
        st.write("Downloading the model file from the training service, verifying it …")
        result = common.act(
            lambda api: api.import_model(model_id),
            lambda m: f"Imported **{m['name']}** (active model {m['id']}): it is active now.",
        )
        status.update(
            label=f"Imported {name}" if result else f"Import of {name} failed",
            state="complete" if result else "error",
        )


def _set_active(active_id: int, name: str, active: bool) -> None:
    if active:
        common.act(lambda api: api.activate(active_id), f"Activated **{name}**.")
    else:
        common.act(lambda api: api.deactivate(active_id), f"Deactivated **{name}**.")


def _rename(active_id: int) -> None:
    new = str(st.session_state.get(f"rename_{active_id}", "")).strip()
    if not new:
        common.flash("error", "A model name cannot be empty.")
        return
    common.act(lambda api: api.rename(active_id, new), f"Renamed to **{new}**.")


def _threshold(active_id: int, name: str) -> None:
    value = float(st.session_state[f"threshold_{active_id}"])
    common.act(
        lambda api: api.set_threshold(active_id, value),
        f"Alert threshold of **{name}** is {value:.2f} now.",
    )


def _webhook(active_id: int, name: str) -> None:
    url = str(st.session_state.get(f"wh_url_{active_id}", "")).strip()
    modes = list(st.session_state.get(f"wh_modes_{active_id}") or ["all"])
    body: Json = {
        "url": url or None,
        "enabled": bool(st.session_state.get(f"wh_enabled_{active_id}", True)),
        "send_mode": modes,
    }
    common.act(lambda api: api.set_webhook(active_id, body), f"Webhook of **{name}** saved.")


def _ask_delete(active_id: int) -> None:
    st.session_state["confirm_delete"] = active_id


def _cancel_delete() -> None:
    st.session_state.pop("confirm_delete", None)


def _delete(active_id: int, name: str) -> None:
    st.session_state.pop("confirm_delete", None)
    common.act(lambda api: api.delete_model(active_id), f"Deleted **{name}**.")


# -- drawing ------------------------------------------------------------------------------
def _metrics(model: Json) -> None:
    metrics: dict[str, Any] = model.get("training_metrics") or {}
    shown = [(label, metrics[key]) for key, label in METRIC_NAMES if metrics.get(key) is not None]
    if shown:
        cols = st.columns(len(shown))
        for col, (label, value) in zip(cols, shown, strict=True):
            col.metric(label, f"{float(value):.3f}")
    else:
        st.caption("No training metrics were recorded for this model.")
    extra = {k: v for k, v in metrics.items() if k not in dict(METRIC_NAMES)}
    if extra:
        st.caption("Other training details")
        st.json(extra, expanded=False)
    features = list(model.get("features") or [])
    st.markdown(f"**Features ({len(features)})**, in the order the model expects them:")
    st.dataframe(
        pd.DataFrame({"#": range(1, len(features) + 1), "feature": features}),
        hide_index=True,
        height=min(35 * len(features) + 38, 300),
        key=f"features_{model['id']}",
    )


def _settings(model: Json) -> None:
    mid = int(model["id"])
    name = str(model["name"])
    left, right = st.columns(2)
    with left:
        st.text_input("Name", value=name, key=f"rename_{mid}", max_chars=255)
        st.button("Rename", key=f"do_rename_{mid}", on_click=_rename, args=(mid,))
        st.slider(
            "Alert threshold",
            min_value=0.0,
            max_value=1.0,
            value=float(model["alert_threshold"]),
            step=0.01,
            key=f"threshold_{mid}",
            help="A prediction is an alert when its probability reaches this value.",
        )
        st.button(
            "Save threshold", key=f"do_threshold_{mid}", on_click=_threshold, args=(mid, name)
        )
    with right:
        st.text_input(
            "Webhook URL (empty: the default N8N_WEBHOOK_URL)",
            value=model.get("webhook_url") or "",
            key=f"wh_url_{mid}",
        )
        st.toggle(
            "Webhook enabled",
            value=bool(model.get("webhook_enabled", True)),
            key=f"wh_enabled_{mid}",
        )
        st.multiselect(
            "Send",
            options=list(SEND_MODES),
            default=list(model.get("webhook_send_mode") or ["all"]),
            format_func=lambda m: SEND_MODES.get(m, m),
            key=f"wh_modes_{mid}",
        )
        st.button("Save webhook", key=f"do_webhook_{mid}", on_click=_webhook, args=(mid, name))


def _delete_controls(model: Json) -> None:
    mid = int(model["id"])
    name = str(model["name"])
    if st.session_state.get("confirm_delete") == mid:
        st.warning(
            f"Delete **{name}**? Its predictions stay, the model file and settings go.",
            icon=":material/delete_forever:",
        )
        yes, no, _ = st.columns([1, 1, 4])
        yes.button(
            "Yes, delete",
            key=f"do_delete_{mid}",
            type="primary",
            on_click=_delete,
            args=(mid, name),
        )
        no.button("Cancel", key=f"cancel_delete_{mid}", on_click=_cancel_delete)
    else:
        st.button(
            "Delete…",
            key=f"ask_delete_{mid}",
            icon=":material/delete:",
            on_click=_ask_delete,
            args=(mid,),
        )


def _model(model: Json) -> None:
    mid = int(model["id"])
    name = str(model["name"])
    active = bool(model["is_active"])
    with st.container(border=True):
        head, actions = st.columns([4, 1.3], vertical_alignment="center")
        with head:
            state = ":green-badge[active]" if active else ":gray-badge[inactive]"
            st.markdown(
                f"#### {name}\n{state} :blue-badge[{model_type(model['model_type'])}] "
                f":violet-badge[{target_kind(model)}] · id {mid} · training-service model "
                f"{model['model_id']}"
            )
        with actions:
            if active:
                st.button(
                    "Deactivate",
                    key=f"toggle_{mid}",
                    icon=":material/pause_circle:",
                    on_click=_set_active,
                    args=(mid, name, False),
                    width="stretch",
                )
            else:
                st.button(
                    "Activate",
                    key=f"toggle_{mid}",
                    icon=":material/play_circle:",
                    type="primary",
                    on_click=_set_active,
                    args=(mid, name, True),
                    width="stretch",
                )
        st.markdown(f"Predicts `{target_text(model)}`")
        runtime = model.get("runtime") or {}
        cols = st.columns(4)
        cols[0].metric("Alert threshold", fmt_threshold(model["alert_threshold"]))
        cols[1].metric("Predictions", fmt_int(model.get("total_predictions")))
        cols[2].metric("Last prediction", ago(model.get("last_prediction_at")))
        cols[3].metric(
            "Runtime",
            str(runtime.get("runtime") or runtime.get("status") or "–") if active else "–",
            help=runtime_text(model),
        )
        if active and runtime.get("status") == "error":
            st.error(f"Cannot be served: {runtime.get('error')}", icon=":material/error:")
        details = [
            f"Imported {fmt_ts(model.get('downloaded_at'))}",
            f"phases {model.get('phases') or 'all'}",
            str(model.get("description") or ""),
        ]
        st.caption(" · ".join(d for d in details if d))
        with st.expander("Settings: name, alert threshold, webhook"):
            _settings(model)
        with st.expander("Training metrics and features"):
            _metrics(model)
        _delete_controls(model)


def _available(available: Json) -> None:
    models: list[Json] = available.get("models") or []
    todo = [m for m in models if not m.get("already_imported")]
    if available.get("reason"):
        st.info(str(available["reason"]))
    if not todo:
        st.caption("Every READY training-service model is imported.")
        return
    rows = st.columns(2)
    for i, model in enumerate(todo):
        with rows[i % 2], st.container(border=True):
            st.markdown(
                f"**{model['name']}** :blue-badge[{model_type(model['model_type'])}] "
                f":violet-badge[{target_kind(model)}]"
            )
            st.caption(
                f"Target `{target_text(model)}` · {len(model.get('features') or [])} features · "
                f"accuracy {fmt_prob(model.get('training_accuracy'))} · "
                f"F1 {model.get('training_f1') or '–'} · ROC AUC {model.get('roc_auc') or '–'}"
            )
            st.button(
                "Import and activate",
                key=f"import_{model['id']}",
                icon=":material/download:",
                on_click=_import,
                args=(int(model["id"]), str(model["name"])),
            )


def _load(api: ApiClient) -> tuple[list[Json], Json]:
    return api.models(include_inactive=True), api.available()


def render() -> None:
    common.page("Models")
    models, available = common.fetch(_load)
    active = [m for m in models if m["is_active"]]
    inactive = [m for m in models if not m["is_active"]]
    todo = [m for m in available.get("models") or [] if not m.get("already_imported")]
    st.caption(f"{len(active)} active · {len(inactive)} inactive · {len(todo)} available to import")
    tab_models, tab_import = st.tabs([f"Imported ({len(models)})", f"Available ({len(todo)})"])
    with tab_models:
        if not models:
            st.info("No models imported yet: see the *Available* tab.")
        for model in active + inactive:
            _model(model)
    with tab_import:
        _available(available)


if __name__ == "__main__":
    render()
