"""Webhooks: outbox state, per-model webhook settings with a test send, the delivery log."""

from __future__ import annotations

import json
import math

import pandas as pd
import streamlit as st

from ml_prediction_service.ui import common
from ml_prediction_service.ui.client import ApiClient, Json
from ml_prediction_service.ui.format import ago, fmt_int, fmt_ts, short_coin

OUTCOMES = {
    "All": None,
    "Delivered": "delivered",
    "Retry": "retry",
    "Failed": "failed",
    "Test": "test",
}
PAGE_SIZE = 50


def _send_test(active_id: int, name: str) -> None:
    result = common.act(
        lambda api: api.webhook_test(active_id),
        lambda r: (
            f"Test webhook of **{name}** to `{r['url']}`: "
            + (
                f"HTTP {r['status_code']} in {r['duration_ms']} ms"
                if r.get("ok")
                else f"failed: {r.get('error') or 'HTTP ' + str(r.get('status_code'))}"
            )
        ),
    )
    if result is not None:
        st.session_state[f"webhook_test_{active_id}"] = result


def _outbox(outbox: Json) -> None:
    cols = st.columns(4)
    cols[0].metric("Waiting in outbox", fmt_int(outbox["open"]), border=True)
    cols[1].metric(
        "Oldest waiting",
        ago(outbox.get("oldest_open_at")) if outbox.get("oldest_open_at") else "–",
        border=True,
    )
    cols[2].metric("Delivered", fmt_int(outbox["delivered"]), border=True)
    cols[3].metric("Failed (gave up)", fmt_int(outbox["failed"]), border=True)


def _models(models: list[Json]) -> None:
    if not models:
        st.info("No models imported: webhooks are sent per model.")
        return
    for model in models:
        mid = int(model["id"])
        name = str(model["name"])
        cols = st.columns([2.5, 3, 1.6, 1.4], vertical_alignment="center")
        cols[0].markdown(f"**{name}**" + ("" if model["is_active"] else " :gray-badge[inactive]"))
        url = model.get("webhook_url")
        modes = ", ".join(model.get("webhook_send_mode") or ["all"])
        cols[1].markdown(
            (f"`{url}`" if url else "default URL (N8N_WEBHOOK_URL)") + f"  \nsends: {modes}"
        )
        cols[2].markdown(
            ":green-badge[enabled]"
            if model.get("webhook_enabled", True)
            else ":gray-badge[disabled]"
        )
        cols[3].button(
            "Send test",
            key=f"send_test_{mid}",
            icon=":material/send:",
            on_click=_send_test,
            args=(mid, name),
        )
        result: Json | None = st.session_state.get(f"webhook_test_{mid}")
        if result:
            with st.expander(f"Last test of {name}: {'ok' if result.get('ok') else 'failed'}"):
                st.json(result, expanded=False)


def _log(api_entries: Json) -> None:
    entries: list[Json] = api_entries["entries"]
    if not entries:
        st.info("No deliveries logged for these filters.")
        return
    frame = pd.DataFrame(
        [
            {
                "id": e["id"],
                "time (UTC)": fmt_ts(e["created_at"]),
                "outcome": e.get("outcome") or "–",
                "status": e.get("response_status"),
                "attempt": e.get("attempt"),
                "coin": short_coin(str(e["coin_id"])),
                "alerts": (e.get("payload") or {}).get("metadata", {}).get("alerts_count"),
                "ms": e.get("duration_ms"),
                "error": e.get("error_message") or "",
                "url": e["webhook_url"],
            }
            for e in entries
        ]
    )
    st.dataframe(frame, hide_index=True, key="webhook_log")
    chosen = st.selectbox(
        "Show the payload of entry",
        [e["id"] for e in entries],
        key="webhook_entry",
    )
    entry = next(e for e in entries if e["id"] == chosen)
    with st.expander(f"Payload of entry {chosen} ({entry['coin_id']})"):
        st.code(json.dumps(entry["payload"], indent=2), language="json")
        if entry.get("response_body"):
            st.caption("Response body")
            st.code(str(entry["response_body"]))


def render() -> None:
    common.page("Webhooks")

    def load(api: ApiClient) -> tuple[Json, list[Json]]:
        return api.outbox(), api.models(include_inactive=True)

    outbox, models = common.fetch(load)
    _outbox(outbox)
    st.subheader("Per model")
    _models(models)
    st.subheader("Delivery log")
    cols = st.columns([1.5, 2.5, 1, 2], vertical_alignment="bottom")
    outcome = cols[0].selectbox("Outcome", list(OUTCOMES), key="wh_outcome")
    coin = cols[1].text_input("Coin", key="wh_coin", placeholder="any coin").strip() or None
    page = int(cols[2].number_input("Page", min_value=1, value=1, key="wh_page"))
    log = common.fetch(
        lambda api: api.webhook_log(
            outcome=OUTCOMES[outcome], coin_id=coin, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
        )
    )
    cols[3].caption(
        f"{fmt_int(log['total'])} entries · page {page} of "
        f"{max(1, math.ceil(int(log['total']) / PAGE_SIZE))}"
    )
    _log(log)


if __name__ == "__main__":
    render()
