"""Webhooks: outbox state and delivery lag, per-model webhook settings with a test send, the
outbox's deliveries with re-sending of failed and expired ones, the delivery log."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pandas as pd
import streamlit as st

from ml_prediction_service.ui import common
from ml_prediction_service.ui.client import ApiClient, Json
from ml_prediction_service.ui.format import (
    fmt_int,
    fmt_ms,
    fmt_span,
    fmt_ts,
    parse_ts,
    short_coin,
)

OUTCOMES = {
    "All": None,
    "Delivered": "delivered",
    "Retry": "retry",
    "Failed": "failed",
    "Test": "test",
}
PAGE_SIZE = 50
DELIVERY_STATUSES = ("pending", "sending", "delivered", "failed", "superseded", "expired")
RESENDABLE = ("failed", "expired")
DELIVERIES_SHOWN = 50
# label → how far back (by creation of the delivery) a bulk re-send reaches; None: no limit
RESEND_RANGES: dict[str, timedelta | None] = {
    "last 15 minutes": timedelta(minutes=15),
    "last hour": timedelta(hours=1),
    "last 24 hours": timedelta(days=1),
    "last 7 days": timedelta(days=7),
    "any time": None,
}


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


def _age(value: object) -> str:
    ts = parse_ts(value)
    return fmt_span((datetime.now(UTC) - ts).total_seconds()) if ts else "–"


def _outbox(outbox: Json) -> None:
    lag: Json = outbox.get("lag_ms") or {}
    cols = st.columns(5)
    cols[0].metric(
        "Waiting in outbox",
        fmt_int(outbox["open"]),
        border=True,
        help="Backlog: deliveries pending or being sent",
    )
    cols[1].metric(
        "Oldest waiting",
        _age(outbox.get("oldest_open_at")),
        border=True,
        help="Age of the oldest pending delivery",
    )
    lag_help = "Delivery lag of the last hour: predictions written → receiver answered 2xx"
    for col, pct in zip(cols[2:], ("p50", "p95", "p99"), strict=True):
        col.metric(f"Delivery lag {pct}", fmt_ms(lag.get(pct)), border=True, help=lag_help)
    cols = st.columns(5)
    cols[0].metric("Delivered", fmt_int(outbox["delivered"]), border=True)
    cols[1].metric("Failed (gave up)", fmt_int(outbox["failed"]), border=True)
    cols[2].metric(
        "Expired",
        fmt_int(outbox.get("expired", 0)),
        border=True,
        help="Older than WEBHOOK_MAX_AGE_SECONDS when due: not sent",
    )
    cols[3].metric(
        "Superseded",
        fmt_int(outbox.get("superseded", 0)),
        border=True,
        help="Replaced by a newer snapshot of the coin before it was sent: not sent",
    )


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


def _table(rows: list[Json], row: Callable[[Json], Json], *, empty: str, key: str) -> bool:
    """A table with one ``row`` per item, or the ``empty`` note (then False)."""
    if not rows:
        st.info(empty)
        return False
    st.dataframe(pd.DataFrame([row(r) for r in rows]), hide_index=True, key=key)
    return True


def _log_row(e: Json) -> Json:
    return {
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


def _log(api_entries: Json) -> None:
    entries: list[Json] = api_entries["entries"]
    if not _table(
        entries, _log_row, empty="No deliveries logged for these filters.", key="webhook_log"
    ):
        return
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


def _requeued(result: Json, where: str) -> str:
    n = int(result["requeued"])
    if n == 0:
        return f"Re-send: nothing requeued, there is no failed or expired delivery {where}."
    ids: list[int] = list(result.get("ids") or [])
    shown = ", ".join(str(i) for i in ids[:20]) + (" …" if len(ids) > 20 else "")
    noun = "delivery" if n == 1 else "deliveries"
    return f"Re-send: **{n}** {noun} requeued {where} (id {shown}); they are due now."


def _resend_many() -> None:
    statuses = list(st.session_state.get("resend_status") or [])
    label = str(st.session_state.get("resend_range") or "any time")
    span = RESEND_RANGES.get(label)
    since = datetime.now(UTC) - span if span is not None else None
    when = f"in the {label}" if span is not None else "at any time"
    common.act(
        lambda api: api.retry_deliveries(statuses, since=since),
        lambda r: _requeued(r, f"({' and '.join(statuses)}, created {when})"),
    )


def _resend_one() -> None:
    chosen = st.session_state.get("resend_id")
    if chosen is None:
        common.flash("error", "Choose a failed or expired delivery first.")
        return
    delivery_id = int(chosen)
    common.act(lambda api: api.retry_delivery(delivery_id), lambda r: _requeued(r, "by id"))


def _delivery_label(delivery: Json) -> str:
    status = delivery.get("last_status")
    return (
        f"#{delivery['id']} · {delivery['status']} · {short_coin(str(delivery['coin_id']))}"
        + (f" · HTTP {status}" if status is not None else "")
        + f" · {fmt_ts(delivery['created_at'])}"
    )


def _resend(outbox: Json, closed: list[Json]) -> None:
    st.caption(
        f"{fmt_int(outbox['failed'])} failed · {fmt_int(outbox.get('expired', 0))} expired. "
        "Re-sent deliveries are due at once and their age restarts; the receiver drops repeats "
        "by their Idempotency-Key."
    )
    cols = st.columns([2, 1.6, 1.2], vertical_alignment="bottom")
    cols[0].multiselect(
        "Re-send deliveries that are",
        list(RESENDABLE),
        default=list(RESENDABLE),
        key="resend_status",
    )
    cols[1].selectbox("Created within", list(RESEND_RANGES), index=1, key="resend_range")
    cols[2].button(
        "Re-send",
        key="do_resend",
        icon=":material/replay:",
        type="primary",
        on_click=_resend_many,
    )
    if not closed:
        return
    by_id = {int(d["id"]): d for d in closed}
    cols = st.columns([3.6, 1.2], vertical_alignment="bottom")
    cols[0].selectbox(
        "Or just one delivery",
        list(by_id),
        format_func=lambda i: _delivery_label(by_id[i]),
        key="resend_id",
    )
    cols[1].button(
        "Re-send this one",
        key="do_resend_one",
        icon=":material/replay:",
        on_click=_resend_one,
    )


def _delivery_row(d: Json) -> Json:
    return {
        "id": d["id"],
        "created (UTC)": fmt_ts(d["created_at"]),
        "status": d["status"],
        "attempts": d["attempts"],
        "last HTTP": d.get("last_status"),
        "coin": short_coin(str(d["coin_id"])),
        "data time (UTC)": fmt_ts(d["data_timestamp"]),
        "delivered (UTC)": fmt_ts(d.get("delivered_at")),
        "last error": d.get("last_error") or "",
        "url": d["webhook_url"],
    }


def _deliveries(listing: Json) -> None:
    rows: list[Json] = listing["deliveries"]
    _table(rows, _delivery_row, empty="No deliveries with this status.", key="deliveries_table")


def _load_closed(api: ApiClient) -> list[Json]:
    """The newest failed and expired deliveries (the ones that can be re-sent)."""
    found: list[Json] = []
    for status in RESENDABLE:
        found += api.deliveries(status=status, limit=DELIVERIES_SHOWN)["deliveries"]
    return sorted(found, key=lambda d: int(d["id"]), reverse=True)


def render() -> None:
    common.page("Webhooks")

    def load(api: ApiClient) -> tuple[Json, list[Json]]:
        return api.outbox(), api.models(include_inactive=True)

    outbox, models = common.fetch(load)
    _outbox(outbox)
    st.subheader("Per model")
    _models(models)
    st.subheader("Deliveries")
    cols = st.columns([1.5, 4.5], vertical_alignment="bottom")
    status = cols[0].selectbox("Status", ["All", *DELIVERY_STATUSES], key="dl_status")
    listing, closed = common.fetch(
        lambda api: (
            api.deliveries(status=None if status == "All" else status, limit=DELIVERIES_SHOWN),
            _load_closed(api),
        )
    )
    cols[1].caption(
        f"the newest {min(DELIVERIES_SHOWN, int(listing['total']))} of "
        f"{fmt_int(listing['total'])} deliveries"
    )
    _deliveries(listing)
    st.markdown("**Re-send failed and expired deliveries**")
    _resend(outbox, closed)
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
