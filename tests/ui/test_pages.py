"""Streamlit AppTest: every page against a real running API with data."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import ml_prediction_service.ui.app as ui_app
from ml_prediction_service.ui.format import fmt_int, fmt_ms, fmt_prob
from tests.support.http import free_port
from tests.support.ui_world import COINS, UiWorld
from tests.support.wait import eventually_sync

APP = str(Path(ui_app.__file__))
TIMEOUT = 30


def open_page(page: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    if page is not None:
        at.switch_page(f"views/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at: AppTest) -> str:
    """All markdown, captions, metrics and titles of the page as one string."""
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    parts += [t.value for t in at.title] + [h.value for h in at.subheader]
    parts += [f"{m.label}={m.value}" for m in at.metric]
    return "\n".join(str(p) for p in parts)


def test_overview(ui_env: UiWorld) -> None:
    at = open_page()
    assert at.title[0].value == "Overview"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Status"] == "healthy"
    assert metrics["Database"] == "connected"
    assert metrics["Listener"] == "connected"
    page = texts(at)
    for name in ("UI Forest rule", "UI Boost rule", "UI Forest time"):
        assert name in page
    active = ui_env.http.get("/api/models/active").json()["total"]
    assert f"Active models ({active})" in page
    assert "Latest alerts" in page


def success_texts(at: AppTest) -> list[str]:
    return [str(s.value) for s in at.success]


def test_models_lists_metrics_and_features(ui_env: UiWorld) -> None:
    at = open_page("models")
    page = texts(at)
    for name in ("UI Forest rule", "UI Boost rule", "UI Forest time", "UI Spare delete"):
        assert f"#### {name}" in page
    assert "buy_pressure_ratio > 0.6" in page  # rule-based target
    assert "price_close up ≥5% within 10 min" in page  # time-based target
    assert "Available (1)" in [t.label for t in at.tabs]
    assert "UI Spare import" in page
    metrics = [(m.label, m.value) for m in at.metric]
    assert ("Accuracy", "0.810") in metrics and ("ROC AUC", "0.880") in metrics
    features = at.dataframe[0].value
    assert list(features["feature"])[:2] == ["price_close", "volume_sol"]


def test_models_deactivate_and_activate(ui_env: UiWorld) -> None:
    model = ui_env.models["UI Forest time"]
    at = open_page("models")
    at.button(key=f"toggle_{model['id']}").click().run()
    assert any("Deactivated **UI Forest time**" in s for s in success_texts(at))
    assert ui_env.model("UI Forest time")["is_active"] is False
    assert at.button(key=f"toggle_{model['id']}").label == "Activate"
    assert "inactive" in texts(at)
    at.button(key=f"toggle_{model['id']}").click().run()
    assert any("Activated **UI Forest time**" in s for s in success_texts(at))
    assert ui_env.model("UI Forest time")["is_active"] is True
    assert at.button(key=f"toggle_{model['id']}").label == "Deactivate"


def test_models_rename_threshold_and_webhook(ui_env: UiWorld) -> None:
    mid = ui_env.models["UI Forest rule"]["id"]
    at = open_page("models")
    at.text_input(key=f"rename_{mid}").set_value("UI Forest renamed")
    at.button(key=f"do_rename_{mid}").click().run()
    assert ui_env.model("UI Forest rule")["name"] == "UI Forest renamed"
    assert "#### UI Forest renamed" in texts(at)

    at.slider(key=f"threshold_{mid}").set_value(0.42)
    at.button(key=f"do_threshold_{mid}").click().run()
    assert ui_env.model("UI Forest rule")["alert_threshold"] == 0.42
    assert any("0.42" in s for s in success_texts(at))

    at.text_input(key=f"wh_url_{mid}").set_value("http://127.0.0.1:9/override")
    at.multiselect(key=f"wh_modes_{mid}").set_value(["alerts_only", "positive_only"])
    at.toggle(key=f"wh_enabled_{mid}").set_value(False)
    at.button(key=f"do_webhook_{mid}").click().run()
    model = ui_env.model("UI Forest rule")
    assert model["webhook_url"] == "http://127.0.0.1:9/override"
    assert model["webhook_send_mode"] == ["alerts_only", "positive_only"]
    assert model["webhook_enabled"] is False

    # An invalid value is refused by the API and shown, not raised.
    at.text_input(key=f"wh_url_{mid}").set_value("not a url")
    at.button(key=f"do_webhook_{mid}").click().run()
    assert any("Refused by the API" in str(e.value) for e in at.error)
    assert not at.exception

    # Back to the original settings through the UI.
    at.text_input(key=f"rename_{mid}").set_value("UI Forest rule")
    at.button(key=f"do_rename_{mid}").click().run()
    at.slider(key=f"threshold_{mid}").set_value(0.7)
    at.button(key=f"do_threshold_{mid}").click().run()
    at.text_input(key=f"wh_url_{mid}").set_value("")
    at.multiselect(key=f"wh_modes_{mid}").set_value(["all"])
    at.toggle(key=f"wh_enabled_{mid}").set_value(True)
    at.button(key=f"do_webhook_{mid}").click().run()
    model = ui_env.model("UI Forest rule")
    assert (model["name"], model["alert_threshold"], model["webhook_url"]) == (
        "UI Forest rule",
        0.7,
        None,
    )
    assert model["webhook_enabled"] is True and model["webhook_send_mode"] == ["all"]


def test_models_import_and_delete_with_confirmation(ui_env: UiWorld) -> None:
    at = open_page("models")
    at.button(key=f"import_{ui_env.spare_ml_id}").click().run()
    assert any("Imported **UI Spare import**" in s for s in success_texts(at))
    imported = [m for m in ui_env.http.get("/api/models").json()["models"]]
    spare = next(m for m in imported if m["name"] == "UI Spare import")
    assert spare["is_active"] is True
    assert "Available (0)" in [t.label for t in at.tabs]

    victim = ui_env.models["UI Spare delete"]["id"]
    at.button(key=f"ask_delete_{victim}").click().run()
    assert any("Delete **UI Spare delete**?" in str(w.value) for w in at.warning)
    at.button(key=f"cancel_delete_{victim}").click().run()
    assert ui_env.http.get(f"/api/models/{victim}").status_code == 200
    at.button(key=f"ask_delete_{victim}").click().run()
    at.button(key=f"do_delete_{victim}").click().run()
    assert any("Deleted **UI Spare delete**" in s for s in success_texts(at))
    assert ui_env.http.get(f"/api/models/{victim}").status_code == 404
    assert "#### UI Spare delete" not in texts(at)
    # the imported spare goes as well, so the other tests see the same models as before
    at.button(key=f"ask_delete_{spare['id']}").click().run()
    at.button(key=f"do_delete_{spare['id']}").click().run()
    assert ui_env.http.get(f"/api/models/{spare['id']}").status_code == 404


def test_predictions_table_filters_and_paging(ui_env: UiWorld) -> None:
    at = open_page("predictions")
    total = ui_env.http.get("/api/predictions", params={"limit": 1}).json()["total"]
    assert f"{total:,}".replace(",", "\u202f") + " predictions" in texts(at)
    table = at.dataframe[0].value
    assert len(table) == min(total, 50)
    assert set(table["coin"]) <= set(COINS) | ui_env.added_coins

    at.selectbox(key="pred_alert").select("Alerts only").run()
    alerts = at.dataframe[0].value
    assert len(alerts) > 0 and alerts["alert"].all()

    boost = ui_env.models["UI Boost rule"]["id"]
    at.selectbox(key="pred_alert").select("All")
    at.selectbox(key="pred_model").select(boost).run()
    assert set(at.dataframe[0].value["model"]) == {"UI Boost rule"}

    at.selectbox(key="pred_model").select(None)
    at.selectbox(key="pred_size").select(25)
    at.number_input(key="pred_page").set_value(2).run()
    assert "page 2 of" in texts(at)
    second = at.dataframe[0].value
    assert len(second) == min(25, total - 25)

    # the time range counts back from now: the world's data is minutes old
    at.number_input(key="pred_page").set_value(1)
    at.selectbox(key="pred_span").select("Last 15 min").run()
    total = ui_env.http.get("/api/predictions", params={"limit": 1}).json()["total"]
    assert f"{total:,}".replace(",", "\u202f") + " predictions" in texts(at)
    assert "data since" in texts(at)


def test_coin_view_chart(ui_env: UiWorld) -> None:
    coin = ui_env.alert_coin
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["coin"] = coin
    at.run()
    at.switch_page("views/predictions.py").run()
    assert not at.exception
    assert at.selectbox(key="pred_coin").value == coin
    page = texts(at)
    assert coin in page
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Metric rows"] == "24"
    assert int(metrics["Alerts"]) > 0
    charts = at.get("plotly_chart")
    assert len(charts) == 1
    figure = charts[0].proto.spec
    for name in (
        "price_close (SOL)",
        "P(UI Forest rule)",
        "P(UI Boost rule)",
        "alert: UI Boost rule",
        "alert: UI Forest time",
    ):
        assert name in figure
    # alerts marked by their outcomes, with the realised move and the reasons on hover
    for text in ("alert came true", "alert did not come true", "realised move +8.0%"):
        assert text in figure
    newest = ui_env.http.get(
        "/api/predictions",
        params={
            "coin_id": coin,
            "active_model_id": ui_env.models["UI Forest time"]["id"],
            "is_alert": True,
            "limit": 1,
        },
    ).json()["predictions"][0]
    assert newest["reasons"], newest  # alerts carry their top features
    assert f"{newest['reasons'][0]['feature']} = " in figure
    assert set(at.dataframe[0].value["coin"]) == {coin}


def test_alerts_feed_links_to_coin_view(ui_env: UiWorld) -> None:
    at = open_page("alerts")
    page = texts(at)
    total = ui_env.http.get("/api/predictions", params={"is_alert": True, "limit": 1}).json()
    assert f"{total['total']} alerts in total" in page
    assert "**UI Boost rule**" in page
    links = at.get("page_link")
    coins = {link.proto.query_string for link in links}
    assert f"coin={ui_env.alert_coin}" in coins
    assert all(link.proto.page == "predictions" for link in links)


def test_webhooks_log_and_send_test(ui_env: UiWorld) -> None:
    at = open_page("webhooks")
    metrics = {m.label: m.value for m in at.metric}
    assert int(metrics["Delivered"].replace("\u202f", "")) >= 1
    log = table(at, "outcome")
    assert len(log) > 0 and set(log["outcome"]) <= {"delivered", "retry", "failed", "test"}
    assert (log["status"] == 200).any()

    before = len(ui_env.receiver.requests)
    boost = ui_env.models["UI Boost rule"]["id"]
    at.button(key=f"send_test_{boost}").click().run()
    assert any(
        "Test webhook of **UI Boost rule**" in s and "HTTP 200" in s for s in success_texts(at)
    )
    assert len(ui_env.receiver.requests) == before + 1
    at.selectbox(key="wh_outcome").select("Test").run()
    assert set(table(at, "outcome")["outcome"]) == {"test"}


def table(at: AppTest, column: str) -> pd.DataFrame:
    """The one table of the page that has this column."""
    found = [d.value for d in at.dataframe if column in d.value.columns]
    assert len(found) == 1, [list(d.value.columns) for d in at.dataframe]
    return found[0]


def error_texts(at: AppTest) -> list[str]:
    return [str(e.value) for e in at.error]


def test_models_ignore_windows_and_coin_filter(ui_env: UiWorld) -> None:
    mid = ui_env.models["UI Forest time"]["id"]
    at = open_page("models")
    try:
        at.number_input(key=f"ign_alert_{mid}").set_value(900)
        at.number_input(key=f"ign_positive_{mid}").set_value(60)
        at.number_input(key=f"ign_negative_{mid}").set_value(0)
        at.button(key=f"do_ignore_{mid}").click().run()
        assert any(
            "Ignore windows of **UI Forest time**: alerts 15 min, positive 1 min, negative off" in s
            for s in success_texts(at)
        )
        model = ui_env.model("UI Forest time")
        windows = [model[f"ignore_{t}_seconds"] for t in ("alert", "positive", "negative")]
        assert windows == [900, 60, 0]
        assert "Ignore windows: alerts 15 min, positive 1 min, negative off" in texts(at)

        at.selectbox(key=f"cf_mode_{mid}").select("blacklist")
        at.text_area(key=f"cf_coins_{mid}").input(f" {COINS[2]}, {COINS[1]}\n\n{COINS[2]}\n")
        at.button(key=f"do_coin_filter_{mid}").click().run()
        assert any(
            "Coin filter of **UI Forest time**: blacklist of 2 coins" in s
            for s in success_texts(at)
        )
        model = ui_env.model("UI Forest time")
        assert model["coin_filter_mode"] == "blacklist"
        assert sorted(model["coin_filter"]) == sorted(COINS[1:3])

        # A window the API refuses (more than 30 days) is shown with the API's message.
        at.number_input(key=f"ign_alert_{mid}").set_value(99_999_999)
        at.button(key=f"do_ignore_{mid}").click().run()
        refused = [e for e in error_texts(at) if "Refused by the API" in e]
        assert refused and "alert" in refused[0] and "less than or equal" in refused[0]
        assert not at.exception
        assert ui_env.model("UI Forest time")["ignore_alert_seconds"] == 900
    finally:
        ui_env.http.patch(
            f"/api/models/{mid}/ignore-windows", json={"alert": 0, "positive": 0, "negative": 0}
        )
        ui_env.http.patch(f"/api/models/{mid}/coin-filter", json={"mode": "all", "coins": []})


def test_models_defaults_for_new_models(ui_env: UiWorld) -> None:
    before = ui_env.http.get("/api/settings/model-defaults").json()
    at = open_page("models")
    assert "Defaults for new models" in [t.label for t in at.tabs]
    try:
        at.number_input(key="def_threshold").set_value(0.55)
        at.number_input(key="def_ign_alert").set_value(300)
        at.multiselect(key="def_modes").set_value(["alerts_only"])
        at.selectbox(key="def_cf_mode").select("whitelist")
        at.text_area(key="def_cf_coins").input(f"{COINS[0]},{COINS[3]}")
        at.button(key="do_defaults").click().run()
        assert any("Defaults for new models saved" in s for s in success_texts(at))
        stored = ui_env.http.get("/api/settings/model-defaults").json()
        assert stored["stored"] is True
        assert stored["alert_threshold"] == 0.55
        assert stored["ignore_alert_seconds"] == 300
        assert stored["webhook_send_mode"] == ["alerts_only"]
        assert (stored["coin_filter_mode"], sorted(stored["coin_filter"])) == (
            "whitelist",
            sorted([COINS[0], COINS[3]]),
        )
        assert stored["webhook_url"] is None and stored["webhook_enabled"] is True
    finally:
        restore = {k: v for k, v in before.items() if k != "stored"}
        resp = ui_env.http.patch("/api/settings/model-defaults", json=restore)
        assert resp.status_code == 200, resp.text


def test_webhooks_lag_deliveries_and_resend(ui_env: UiWorld) -> None:
    first = ui_env.failed_delivery(f"UiResendA{'x' * 30}pump")
    second = ui_env.failed_delivery(f"UiResendB{'x' * 30}pump")
    stats = ui_env.http.get("/api/webhooks/outbox").json()
    at = open_page("webhooks")
    metrics = {m.label: m.value for m in at.metric}
    for pct in ("p50", "p95", "p99"):
        assert metrics[f"Delivery lag {pct}"] == fmt_ms(stats["lag_ms"][pct]) != "–"
    assert metrics["Waiting in outbox"] == fmt_int(stats["open"])
    assert int(metrics["Failed (gave up)"].replace("\u202f", "")) >= 2

    at.selectbox(key="dl_status").select("failed").run()
    failed = table(at, "attempts")
    assert {first["id"], second["id"]} <= set(failed["id"])
    assert set(failed["status"]) == {"failed"} and (failed["last HTTP"] == 400).all()

    # one by id: requeued, then delivered by the sender (the receiver answers 200 now)
    at.selectbox(key="resend_id").select(first["id"])
    at.button(key="do_resend_one").click().run()
    assert any(f"**1** delivery requeued by id (id {first['id']})" in s for s in success_texts(at))

    def status(delivery: dict[str, object]) -> str:
        coin = str(delivery["coin_id"])
        return next(d["status"] for d in ui_env.deliveries(coin) if d["id"] == delivery["id"])

    assert eventually_sync(lambda: status(first) == "delivered", 30), status(first)

    # someone else re-sent the chosen one meanwhile: the API's refusal is shown
    at.selectbox(key="resend_id").select(second["id"])
    assert ui_env.http.post(f"/api/webhooks/outbox/{second['id']}/retry").status_code == 200
    at.button(key="do_resend_one").click().run()
    assert any(
        f"Refused by the API: no failed or expired delivery with id {second['id']}" in e
        for e in error_texts(at)
    )
    assert eventually_sync(lambda: status(second) == "delivered", 30), status(second)

    # the bulk form without a status: refused by the API, shown, nothing raised
    at.multiselect(key="resend_status").set_value([])
    at.button(key="do_resend").click().run()
    assert any("Refused by the API: invalid request: status" in e for e in error_texts(at))
    assert not at.exception


def test_unreachable_api_shows_a_banner(ui_env: UiWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_URL", f"http://127.0.0.1:{free_port()}")
    for page in (None, "models", "predictions", "alerts", "webhooks"):
        at = open_page(page)
        assert any("The API is not reachable" in str(e.value) for e in at.error), page
        assert not at.exception


def expected_quality(world: UiWorld) -> tuple[int, float]:
    """(evaluated alerts, their precision) of "UI Forest time" as the world wrote them."""
    alerts = [e for e in world.evaluations if e["is_alert"]]
    assert alerts, "the world wrote no evaluated alerts"
    return len(alerts), sum(e["target_hit"] for e in alerts) / len(alerts)


def test_alert_quality_page_with_outcomes(ui_env: UiWorld) -> None:
    at = open_page("quality")
    assert at.title[0].value == "Alert quality"
    table = at.dataframe[0].value.set_index("model")
    alerts, precision = expected_quality(ui_env)
    forest = table.loc["UI Forest time"]
    assert (forest["alerts"], forest["horizon"]) == (alerts, "10 min")
    assert forest["alert precision"] == pytest.approx(precision)
    assert "rule-based model without a horizon" in table.loc["UI Boost rule", "note"]
    # the time-based model is chosen first: its figures, two charts, its evaluated alerts
    assert at.selectbox(key="quality_model").value == ui_env.models["UI Forest time"]["id"]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Alert precision"] == fmt_prob(precision)
    assert metrics["Evaluated alerts"] == fmt_int(alerts)
    assert len(at.get("plotly_chart")) == 2
    listed = at.table[0].value
    assert set(listed["realised move"]) <= {"+8.0%", "-2.5%", "+6.0%", "+1.0%"}
    assert "+8.0%" in set(listed["realised move"])
    assert {"came true", "did not come true"} == set(listed["result"])
    # a rule-based model says why it has no evaluation instead of showing empty charts
    at.selectbox(key="quality_model").set_value(ui_env.models["UI Boost rule"]["id"]).run()
    assert not at.exception
    assert any("rule-based model without a horizon" in str(i.value) for i in at.info)
    assert not at.get("plotly_chart")
    # the last hour still has them (data of the last minutes); the window is passed on
    at.radio(key="quality_window").set_value("Last hour").run()
    assert at.dataframe[0].value.set_index("model").loc["UI Forest time", "alerts"] == alerts
