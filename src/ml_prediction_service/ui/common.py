"""Streamlit glue shared by the pages: the API client, the "API unreachable" banner, action
callbacks with messages that survive the rerun, and links to the coin view."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal, TypeVar

import streamlit as st

from ml_prediction_service.config import SettingsError, load_ui_settings
from ml_prediction_service.ui.client import ApiClient, ApiError, ApiUnavailable, Json
from ml_prediction_service.ui.format import ago, fmt_prob, fmt_threshold, fmt_ts, short_coin
from ml_prediction_service.ui.rates import RateTracker

T = TypeVar("T")
FlashKind = Literal["success", "error", "info", "warning"]

COIN_VIEW_PAGE = "views/predictions.py"  # relative to the main script (app.py)
_FLASH_KEY = "_ui_flash"


@st.cache_resource(show_spinner=False)
def rate_tracker(api_url: str) -> RateTracker:
    """One tracker per API for the whole UI process (shared by all sessions)."""
    return RateTracker()


def api_config() -> tuple[str, str]:
    """(API_URL, API_KEY) from the UI's settings (environment or .env; nothing else of the
    service's configuration is read)."""
    try:
        settings = load_ui_settings()
    except SettingsError as exc:
        st.error(f"The UI's configuration is invalid: {exc}", icon=":material/error:")
        st.stop()
    return settings.api_url.rstrip("/"), settings.api_key


def client() -> ApiClient:
    url, key = api_config()
    return ApiClient(url, key, timeout=10.0)


def unreachable_banner(exc: ApiUnavailable) -> None:
    st.error(
        f"**The API is not reachable** at `{exc.base_url}` ({exc.reason}).\n\n"
        "Start it with `ml-prediction-service serve` (or `ml-prediction-service demo`), or "
        "point the UI at it with `API_URL`. This page retries when you reload it.",
        icon=":material/cloud_off:",
    )


def fetch(call: Callable[[ApiClient], T]) -> T:
    """Run a read against the API; on failure show a banner and stop this page run."""
    with client() as api:
        try:
            return call(api)
        except ApiUnavailable as exc:
            unreachable_banner(exc)
        except ApiError as exc:
            st.error(f"The API answered with an error: {exc.detail}", icon=":material/error:")
    st.stop()


def flash(kind: FlashKind, text: str) -> None:
    """A message shown at the top of the next page run (actions run in callbacks)."""
    st.session_state.setdefault(_FLASH_KEY, []).append((kind, text))


def show_flashes() -> None:
    messages: list[tuple[FlashKind, str]] = st.session_state.pop(_FLASH_KEY, [])
    for kind, text in messages:
        if kind == "success":
            st.success(text, icon=":material/check_circle:")
        elif kind == "error":
            st.error(text, icon=":material/error:")
        elif kind == "warning":
            st.warning(text, icon=":material/warning:")
        else:
            st.info(text, icon=":material/info:")


def act(call: Callable[[ApiClient], Json], success: str | Callable[[Json], str]) -> Json | None:
    """Run a change against the API (in a widget callback) and flash the outcome."""
    with client() as api:
        try:
            result = call(api)
        except ApiUnavailable as exc:
            flash("error", f"The API is not reachable at {exc.base_url}: {exc.reason}")
            return None
        except ApiError as exc:
            flash("error", f"Refused by the API: {exc.detail}")
            return None
    flash("success", success(result) if callable(success) else success)
    return result


def coin_link(coin_id: str, *, label: str | None = None, key_hint: str = "") -> None:
    """A link that opens the coin view (Predictions page) for ``coin_id``."""
    st.page_link(
        COIN_VIEW_PAGE,
        label=label or short_coin(coin_id),
        icon=":material/candlestick_chart:",
        query_params={"coin": coin_id},
        help=f"Open the coin view of {coin_id}{key_hint}",
    )


def record_rates(health: Json, stats: Json) -> RateTracker:
    """Feed the counters of this page run into the process-wide rate tracker."""
    url, _ = api_config()
    tracker = rate_tracker(url)
    pipeline = health.get("pipeline") or {}
    tracker.add(
        time.time(),
        int(pipeline.get("events_processed") or 0),
        int(stats.get("total_predictions") or 0),
    )
    return tracker


def page(title: str) -> None:
    """The top of every page: its title, then the messages of the last actions."""
    st.title(title)
    show_flashes()


LIVE_REFRESH_SECONDS = 5


def live(body: Callable[[], None], *, label: str, key: str, every: float) -> None:
    """Render ``body``; while the toggle is on, re-run just it every ``every`` seconds."""
    if st.toggle(label, value=True, key=key):
        st.fragment(run_every=every)(body)()
    else:
        body()


def live_page(title: str, body: Callable[[], None], *, toggle: str) -> None:
    """A page whose ``body`` re-runs every ``LIVE_REFRESH_SECONDS`` while the toggle labelled
    ``toggle`` is on (it is, at first)."""
    page(title)
    live(body, label=toggle, key=f"{title.lower()}_live", every=LIVE_REFRESH_SECONDS)


def alert_feed(alerts: list[Json], *, key: str) -> None:
    """Alert predictions as rows: coin (link to the coin view), model, probability, times."""
    if not alerts:
        st.info("No alerts yet.", icon=":material/notifications_off:")
        return
    widths = [2.2, 2.4, 1.4, 2.0, 1.2]
    head = st.columns(widths)
    for col, title in zip(
        head, ["Coin", "Model", "Probability", "Data time (UTC)", "Stored"], strict=True
    ):
        col.caption(title)
    for i, alert in enumerate(alerts):
        cols = st.columns(widths, vertical_alignment="center")
        with cols[0]:
            coin_link(str(alert["coin_id"]), key_hint=f" ({key}-{i})")
        cols[1].markdown(f"**{alert.get('model_name') or alert.get('active_model_id')}**")
        threshold = alert.get("alert_threshold")
        cols[2].markdown(
            f":red[**{fmt_prob(alert.get('probability'))}**]"
            + (f" ≥ {fmt_threshold(threshold)}" if threshold is not None else "")
        )
        cols[3].markdown(fmt_ts(alert.get("data_timestamp")))
        cols[4].markdown(ago(alert.get("created_at")))
