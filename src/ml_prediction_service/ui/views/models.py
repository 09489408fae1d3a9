"""Models: import from the training service, activate/deactivate, rename, alert threshold,
webhook settings, ignore windows, coin filter, delete (with confirmation), training metrics and
features; the defaults for newly imported models."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import streamlit as st

from ml_prediction_service.ui import common
from ml_prediction_service.ui.client import ApiClient, Json
from ml_prediction_service.ui.format import (
    ago,
    fmt_int,
    fmt_prob,
    fmt_span,
    fmt_threshold,
    fmt_ts,
    model_type,
    parse_mints,
    runtime_text,
    target_kind,
    target_text,
)

SEND_MODES = {
    "all": "every prediction",
    "alerts_only": "alerts",
    "positive_only": "positive predictions",
    "negative_only": "negative predictions",
    "evaluations": "outcome of each evaluated alert (follow-up)",
}
TAGS = {"alert": "alerts", "positive": "positive", "negative": "negative"}
COIN_FILTER_MODES = {
    "all": "all coins",
    "whitelist": "whitelist: only these coins",
    "blacklist": "blacklist: every coin but these",
}
WINDOW_LABELS = {
    "alert": "After an alert",
    "positive": "After a positive",
    "negative": "After a negative",
}
MAX_IGNORE_SECONDS = 30 * 86400
IGNORE_HELP = (
    "Seconds of coin time (data timestamps) after the model sent a coin's prediction with this "
    "tag during which it sends no further one of that tag for the coin; such predictions are "
    f"still stored, marked suppressed. 0 = off, at most {MAX_IGNORE_SECONDS:,} (30 days)."
)
MINTS_HELP = "One mint per line, or separated by commas."
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


def _window_text(seconds: dict[str, int]) -> str:
    return ", ".join(
        f"{label} {fmt_span(seconds[tag]) if seconds[tag] else 'off'}"
        for tag, label in TAGS.items()
    )


def _filter_text(mode: str, coins: list[str]) -> str:
    if mode == "all":
        return "all coins"
    noun = "coin" if len(coins) == 1 else "coins"
    return f"{mode} of {len(coins)} {noun}"


def _ignore_windows(active_id: int, name: str) -> None:
    seconds = {tag: int(st.session_state.get(f"ign_{tag}_{active_id}") or 0) for tag in TAGS}
    common.act(
        lambda api: api.set_ignore_windows(active_id, **seconds),
        lambda m: (
            f"Ignore windows of **{name}**: "
            + _window_text({tag: int(m[f"ignore_{tag}_seconds"]) for tag in TAGS})
            + "."
        ),
    )


def _coin_filter(active_id: int, name: str) -> None:
    mode = str(st.session_state.get(f"cf_mode_{active_id}") or "all")
    coins = parse_mints(str(st.session_state.get(f"cf_coins_{active_id}") or ""))
    common.act(
        lambda api: api.set_coin_filter(active_id, mode, coins),
        lambda m: (
            f"Coin filter of **{name}**: "
            + _filter_text(str(m["coin_filter_mode"]), list(m["coin_filter"]))
            + "."
        ),
    )


def _save_defaults() -> None:
    state = st.session_state
    body: Json = {
        "alert_threshold": float(state["def_threshold"]),
        "webhook_url": str(state.get("def_url") or "").strip() or None,
        "webhook_enabled": bool(state.get("def_enabled", True)),
        "webhook_send_mode": list(state.get("def_modes") or ["all"]),
        **{f"ignore_{tag}_seconds": int(state.get(f"def_ign_{tag}") or 0) for tag in TAGS},
        "coin_filter_mode": str(state.get("def_cf_mode") or "all"),
        "coin_filter": parse_mints(str(state.get("def_cf_coins") or "")),
    }
    common.act(
        lambda api: api.set_model_defaults(body),
        lambda d: (
            "Defaults for new models saved: threshold "
            f"{fmt_threshold(d['alert_threshold'])}, "
            + _window_text({tag: int(d[f"ignore_{tag}_seconds"]) for tag in TAGS})
            + f", {_filter_text(str(d['coin_filter_mode']), list(d['coin_filter']))}."
        ),
    )


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


def _window_inputs(values: Json, key: Callable[[str], str]) -> None:
    """Three number inputs (seconds) for the ignore windows in ``values``."""
    st.markdown("**Ignore windows** (seconds of coin time per tag, 0 = off)")
    cols = st.columns(3)
    for col, tag in zip(cols, TAGS, strict=True):
        col.number_input(
            WINDOW_LABELS[tag],
            min_value=0,
            value=int(values.get(f"ignore_{tag}_seconds") or 0),
            step=60,
            key=key(tag),
            help=IGNORE_HELP,
        )


def _filter_inputs(values: Json, *, mode_key: str, coins_key: str) -> None:
    """The coin filter in ``values``: a mode and the list of mints."""
    mode = str(values.get("coin_filter_mode") or "all")
    st.selectbox(
        "Coin filter",
        list(COIN_FILTER_MODES),
        index=list(COIN_FILTER_MODES).index(mode) if mode in COIN_FILTER_MODES else 0,
        format_func=lambda m: COIN_FILTER_MODES.get(m, m),
        key=mode_key,
        help="Coins the filter excludes are not predicted by the model at all.",
    )
    st.text_area(
        "Mints of the list",
        value="\n".join(values.get("coin_filter") or []),
        key=coins_key,
        help=MINTS_HELP,
        height=100,
    )


def _threshold_input(widget: Callable[..., object], value: Any, **options: str) -> None:
    """An "Alert threshold" input with ``widget``: 0 to 1 in steps of 0.01."""
    widget(
        "Alert threshold",
        min_value=0.0,
        max_value=1.0,
        value=float(value),
        step=0.01,
        **options,
    )


def _settings(model: Json) -> None:
    mid = int(model["id"])
    name = str(model["name"])
    left, right = st.columns(2)
    with left:
        st.text_input("Name", value=name, key=f"rename_{mid}", max_chars=255)
        st.button("Rename", key=f"do_rename_{mid}", on_click=_rename, args=(mid,))
        _threshold_input(
            st.slider,
            model["alert_threshold"],
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
    left, right = st.columns(2)
    with left:
        _window_inputs(model, lambda tag: f"ign_{tag}_{mid}")
        st.button(
            "Save ignore windows",
            key=f"do_ignore_{mid}",
            on_click=_ignore_windows,
            args=(mid, name),
        )
    with right:
        _filter_inputs(model, mode_key=f"cf_mode_{mid}", coins_key=f"cf_coins_{mid}")
        st.button(
            "Save coin filter",
            key=f"do_coin_filter_{mid}",
            on_click=_coin_filter,
            args=(mid, name),
        )


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
        windows = {tag: int(model.get(f"ignore_{tag}_seconds") or 0) for tag in TAGS}
        st.caption(
            f"Ignore windows: {_window_text(windows)} · coin filter: "
            + _filter_text(
                str(model.get("coin_filter_mode") or "all"), model.get("coin_filter") or []
            )
        )
        with st.expander("Settings: name, alert threshold, webhook, ignore windows, coin filter"):
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


def _defaults(defaults: Json) -> None:
    st.caption(
        "What a newly imported model starts with (models imported before keep their settings). "
        + (
            "Stored in the database."
            if defaults.get("stored")
            else "Nothing stored yet: these come from the environment (DEFAULT_ALERT_THRESHOLD, "
            "N8N_WEBHOOK_URL)."
        )
    )
    left, right = st.columns(2)
    with left:
        _threshold_input(st.number_input, defaults["alert_threshold"], key="def_threshold")
        st.text_input(
            "Webhook URL (empty: the default N8N_WEBHOOK_URL)",
            value=defaults.get("webhook_url") or "",
            key="def_url",
        )
        st.toggle(
            "Webhook enabled", value=bool(defaults.get("webhook_enabled", True)), key="def_enabled"
        )
        st.multiselect(
            "Send",
            options=list(SEND_MODES),
            default=list(defaults.get("webhook_send_mode") or ["all"]),
            format_func=lambda m: SEND_MODES.get(m, m),
            key="def_modes",
        )
    with right:
        _window_inputs(defaults, lambda tag: f"def_ign_{tag}")
        _filter_inputs(defaults, mode_key="def_cf_mode", coins_key="def_cf_coins")
    st.button("Save defaults", key="do_defaults", type="primary", on_click=_save_defaults)


def _load(api: ApiClient) -> tuple[list[Json], Json, Json]:
    return api.models(include_inactive=True), api.available(), api.model_defaults()


def render() -> None:
    common.page("Models")
    models, available, defaults = common.fetch(_load)
    active = [m for m in models if m["is_active"]]
    inactive = [m for m in models if not m["is_active"]]
    todo = [m for m in available.get("models") or [] if not m.get("already_imported")]
    st.caption(f"{len(active)} active · {len(inactive)} inactive · {len(todo)} available to import")
    tab_models, tab_import, tab_defaults = st.tabs(
        [f"Imported ({len(models)})", f"Available ({len(todo)})", "Defaults for new models"]
    )
    with tab_models:
        if not models:
            st.info("No models imported yet: see the *Available* tab.")
        for model in active + inactive:
            _model(model)
    with tab_import:
        _available(available)
    with tab_defaults:
        _defaults(defaults)


if __name__ == "__main__":
    render()
