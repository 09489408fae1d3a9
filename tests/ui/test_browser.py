"""A real browser (headless Debian Chromium, driven by Playwright) against the real UI
(``streamlit run`` as a subprocess) and the real API with data. Screenshots go to
``artifacts/ui/`` (git-ignored)."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ml_prediction_service.ui.commands import streamlit_command
from ml_prediction_service.ui.format import fmt_int, fmt_ms, fmt_prob
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, NEEDS_CHROMIUM
from tests.support.http import free_port
from tests.support.ui_world import COINS, UiWorld
from tests.support.wait import eventually_sync

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "ui"
WAIT_MS = 45_000

pytestmark = [pytest.mark.slow, NEEDS_CHROMIUM]


@pytest.fixture(scope="module")
def ui_url(world_ui: UiWorld, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The Streamlit app as `ml-prediction-service ui` runs it, on a free port."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("streamlit") / "streamlit.log"
    env = {**os.environ, **world_ui.env()}
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            streamlit_command(port),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:

        def healthy() -> bool:
            assert proc.poll() is None, log_path.read_text()
            return httpx.get(f"{url}/_stcore/health", timeout=2).status_code == 200

        started = eventually_sync(healthy, 60, interval=0.25, ignore=(httpx.HTTPError,))
        assert started, "streamlit did not start: " + log_path.read_text()
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A headless Chromium with a fresh profile directory."""
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1800},
        )
        try:
            yield context
        finally:
            context.close()


def settle(page: Any) -> None:
    """Wait until Streamlit has finished the current run (no "running" indicator, no
    skeletons of elements still on their way)."""
    page.wait_for_load_state("networkidle", timeout=WAIT_MS)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stSkeleton\"]')", timeout=WAIT_MS
    )
    time.sleep(0.5)


def shoot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    return path


def see(page: Any, text: str) -> None:
    page.get_by_text(text, exact=False).first.wait_for(state="visible", timeout=WAIT_MS)


def legend(page: Any, text: str) -> None:
    """A legend entry of a Plotly chart on the page."""
    entry = page.locator(".js-plotly-plot .legendtext", has_text=text).first
    entry.wait_for(state="visible", timeout=WAIT_MS)


def test_every_page_in_a_real_browser(browser: Any, ui_url: str, world_ui: UiWorld) -> None:
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    page.goto(ui_url)
    see(page, "Active models")
    for name in ("UI Forest rule", "UI Boost rule", "UI Forest time"):
        see(page, name)
    see(page, "healthy")
    # the throughput chart appears once the page has refreshed itself (every 5 s)
    page.locator(".js-plotly-plot").first.wait_for(state="visible", timeout=WAIT_MS)
    settle(page)
    shoot(page, "overview")

    page.goto(f"{ui_url}/models")
    see(page, "UI Boost rule")
    see(page, "Deactivate")
    settle(page)
    shoot(page, "models")

    page.goto(f"{ui_url}/alerts")
    see(page, "alerts in total")
    link = page.locator('a[href*="predictions?coin="]').first
    link.wait_for(state="visible", timeout=WAIT_MS)
    settle(page)
    shoot(page, "alerts")
    link.click()  # the coin view of an alerting coin
    page.wait_for_url("**/predictions?coin=*", timeout=WAIT_MS)
    chart = page.locator(".js-plotly-plot").first
    chart.wait_for(state="visible", timeout=WAIT_MS)
    see(page, "price_close (SOL)")
    see(page, "P(UI Boost rule)")
    settle(page)
    shoot(page, "coin-view")

    page.goto(f"{ui_url}/predictions")
    see(page, "Rows per page")
    page.locator('[data-testid="stDataFrame"]').first.wait_for(state="visible", timeout=WAIT_MS)
    settle(page)
    shoot(page, "predictions")

    page.goto(f"{ui_url}/webhooks")
    see(page, "Delivery log")
    see(page, "Waiting in outbox")
    page.locator('[data-testid="stDataFrame"]').first.wait_for(state="visible", timeout=WAIT_MS)
    settle(page)
    shoot(page, "webhooks")
    assert not errors, errors
    page.close()


def test_deactivate_and_activate_by_clicking(browser: Any, ui_url: str, world_ui: UiWorld) -> None:
    model = world_ui.models["UI Forest time"]
    button = f".st-key-toggle_{model['id']} button"
    page = browser.new_page()
    page.goto(f"{ui_url}/models")
    see(page, "UI Forest time")
    page.locator(button).wait_for(state="visible", timeout=WAIT_MS)
    assert "Deactivate" in page.locator(button).inner_text()

    page.locator(button).click()
    see(page, "Deactivated UI Forest time")
    page.wait_for_function(
        f"() => document.querySelector('{button}')?.innerText.includes('Activate')",
        timeout=WAIT_MS,
    )
    assert world_ui.model("UI Forest time")["is_active"] is False
    settle(page)
    shoot(page, "models-after-deactivate")

    page.locator(button).click()
    see(page, "Activated UI Forest time")
    page.wait_for_function(
        f"() => document.querySelector('{button}')?.innerText.includes('Deactivate')",
        timeout=WAIT_MS,
    )
    assert world_ui.model("UI Forest time")["is_active"] is True
    page.close()


def test_ignore_windows_and_whitelist_by_clicking(
    browser: Any, ui_url: str, world_ui: UiWorld
) -> None:
    mid = world_ui.models["UI Forest rule"]["id"]
    page = browser.new_page()
    try:
        page.goto(f"{ui_url}/models")
        see(page, "UI Forest rule")
        settle(page)
        expander = page.locator(
            '[data-testid="stExpander"]', has=page.locator(f".st-key-ign_alert_{mid}")
        )
        expander.locator("summary").click()
        for tag, value in (("alert", "600"), ("positive", "120"), ("negative", "0")):
            field = page.locator(f".st-key-ign_{tag}_{mid} input")
            field.wait_for(state="visible", timeout=WAIT_MS)
            field.fill(value)
            field.press("Tab")
        settle(page)
        page.locator(f".st-key-do_ignore_{mid} button").click()
        see(page, "Ignore windows of UI Forest rule: alerts 10 min, positive 2 min, negative off")
        model = world_ui.model("UI Forest rule")
        assert [model[f"ignore_{t}_seconds"] for t in ("alert", "positive", "negative")] == [
            600,
            120,
            0,
        ]

        page.goto(f"{ui_url}/models")
        see(page, "UI Forest rule")
        settle(page)
        expander.locator("summary").click()
        stored = page.locator(f".st-key-ign_alert_{mid} input")
        stored.wait_for(state="visible", timeout=WAIT_MS)
        assert stored.input_value() == "600"  # the page shows what is stored
        choose(page, f"cf_mode_{mid}", "whitelist: only these coins")
        settle(page)
        coins = page.locator(f".st-key-cf_coins_{mid} textarea")
        coins.fill(f"{COINS[0]}\n{COINS[1]}, {COINS[2]}")
        coins.press("Control+Enter")
        settle(page)
        page.locator(f".st-key-do_coin_filter_{mid} button").click()
        see(page, "Coin filter of UI Forest rule: whitelist of 3 coins")
        model = world_ui.model("UI Forest rule")
        assert model["coin_filter_mode"] == "whitelist"
        assert sorted(model["coin_filter"]) == sorted(COINS[:3])
        settle(page)
        shoot(page, "models-alert-settings")
    finally:
        page.close()
        world_ui.http.patch(
            f"/api/models/{mid}/ignore-windows", json={"alert": 0, "positive": 0, "negative": 0}
        )
        world_ui.http.patch(f"/api/models/{mid}/coin-filter", json={"mode": "all", "coins": []})


def choose(page: Any, key: str, option: str) -> None:
    """Pick ``option`` in the selectbox with this key (opening its list again if a rerun
    closed it)."""
    from playwright.sync_api import Error as PlaywrightError

    box = page.locator(f'.st-key-{key} input[role="combobox"]')

    def picked() -> bool:
        if box.input_value(timeout=2000) == option:
            return True
        item = page.get_by_role("option", name=option)
        if item.count() and item.first.is_visible():
            item.first.click(timeout=2000)
        else:
            page.locator(f'.st-key-{key} button[aria-label="Open"]').click(timeout=2000)
        return bool(box.input_value(timeout=2000) == option)

    assert eventually_sync(picked, 30, interval=0.3, ignore=(PlaywrightError,)), key


def metric_value(page: Any, label: str) -> str:
    metric = page.locator('[data-testid="stMetric"]', has_text=label).first
    return str(metric.locator('[data-testid="stMetricValue"]').inner_text()).strip()


def test_resend_a_failed_delivery_by_clicking(browser: Any, ui_url: str, world_ui: UiWorld) -> None:
    failed = world_ui.failed_delivery(f"UiResendBrowser{'x' * 24}pump")
    assert failed["last_status"] == 400 and failed["attempts"] == 1
    received = len(world_ui.flaky.requests)
    stats = world_ui.http.get("/api/webhooks/outbox").json()
    page = browser.new_page()
    page.goto(f"{ui_url}/webhooks")
    see(page, "Delivery lag p99")
    see(page, "Re-send failed and expired deliveries")
    settle(page)
    for pct in ("p50", "p95", "p99"):
        shown = metric_value(page, f"Delivery lag {pct}")
        assert shown == fmt_ms(stats["lag_ms"][pct]) and shown != "–"
    assert metric_value(page, "Waiting in outbox") == fmt_int(stats["open"])
    assert metric_value(page, "Oldest waiting") == "–"  # nothing is waiting
    assert int(metric_value(page, "Failed (gave up)").replace("\u202f", "")) >= 1
    shoot(page, "webhooks-failed")

    page.locator(
        '.st-key-do_resend button[data-testid^="stBaseButton"]'
    ).click()  # failed + expired of the last hour
    see(page, "requeued (failed and expired, created in the last hour)")
    flash = page.get_by_text("requeued (failed and expired", exact=False).first.inner_text()
    assert f"{failed['id']}" in flash, flash

    def status() -> str:
        rows = world_ui.deliveries(str(failed["coin_id"]))
        return str(next(d["status"] for d in rows if d["id"] == failed["id"]))

    assert eventually_sync(lambda: status() == "delivered", 30), status()
    assert len(world_ui.flaky.requests) == received + 1
    settle(page)
    shoot(page, "webhooks-resent")
    page.close()


def test_alert_quality_page_and_outcome_marks(browser: Any, ui_url: str, world_ui: UiWorld) -> None:
    """The new page with evaluated alerts of a real model, then the coin view's marks."""
    alerts = [e for e in world_ui.evaluations if e["is_alert"]]
    assert alerts
    precision = sum(e["target_hit"] for e in alerts) / len(alerts)
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    page.goto(f"{ui_url}/quality")
    see(page, "Evaluated alerts (")
    assert metric_value(page, "Alert precision") == fmt_prob(precision)
    assert metric_value(page, "Evaluated alerts") == fmt_int(len(alerts))
    grid = page.locator('[data-testid="stDataFrame"]').first
    grid.wait_for(state="visible", timeout=WAIT_MS)
    # the grid draws on a canvas; its accessible table holds the rows (model and figures)
    row = grid.locator('tr:has(td:text-is("UI Forest time"))')
    row.wait_for(state="attached", timeout=WAIT_MS)
    cells = row.locator("td").all_inner_texts()  # raw values: alerts, precision, …
    assert str(len(alerts)) in cells and str(precision) in cells, cells
    charts = page.locator(".js-plotly-plot")
    charts.nth(1).wait_for(state="visible", timeout=WAIT_MS)
    legend(page, "perfectly calibrated")  # the calibration chart
    legend(page, "alert precision")  # precision over time
    rows = page.locator('[data-testid="stTable"] tbody tr')
    first = rows.first
    first.wait_for(state="visible", timeout=WAIT_MS)
    assert rows.count() == min(len(alerts), 100)
    newest = first.inner_text()
    move = next(m for m in ("+8.0%", "-2.5%", "+6.0%", "+1.0%") if f"\n{m}\n" in newest)
    result = "came true" if move in ("+8.0%", "+6.0%") else "did not come true"
    assert f"\n{result}\n" in newest, newest  # the realised move decides the outcome
    settle(page)
    shoot(page, "quality")

    hit = next(e for e in alerts if e["target_hit"])
    page.goto(f"{ui_url}/predictions?coin={hit['coin_id']}")
    page.locator(".js-plotly-plot").first.wait_for(state="visible", timeout=WAIT_MS)
    see(page, "P(UI Forest time)")
    legend(page, "alert came true")  # legend entries of the marks on the chart
    legend(page, "alert did not come true")
    legend(page, "alert not evaluated (yet)")  # the newest snapshot's alerts
    settle(page)
    shoot(page, "coin-view-outcomes")
    assert not errors, errors
    page.close()
