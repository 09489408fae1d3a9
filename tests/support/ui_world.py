"""A running system for the UI tests, shared by the whole session: a fresh database with
stand-in tables, the training-service stand-in, a webhook receiver and the API with three
imported models and predictions, alerts and webhook deliveries for six coins. A second
receiver (``flaky``) answers what a test tells it to, for deliveries that fail.

Everything runs on an event loop in a background thread, so that the synchronous Streamlit
AppTest and the browser driver can talk to it over real HTTP from the test thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx

from ml_prediction_service.api.app import create_app
from ml_prediction_service.db.pool import create_pool
from ml_prediction_service.db.schema import install_coin_metrics_trigger
from ml_prediction_service.demo.receiver import ReceiverStats, receiver_app
from ml_prediction_service.stand_ins.ddl import create_dev_schema
from ml_prediction_service.stand_ins.training_service import create_app as create_training_app
from tests.support.http import serve_app
from tests.support.metrics import coin_rows, insert_metrics
from tests.support.models import TrainedFile, insert_ml_model
from tests.support.pg import PgTestServer, with_database
from tests.support.settings import service_settings
from tests.support.statistics_rows import evaluate_stored
from tests.support.wait import eventually, eventually_sync

T = TypeVar("T")
API_KEY = "ui-test-key"
COINS = [f"UiCoin{i}{'x' * 30}pump" for i in range(6)]
ROWS_PER_COIN = 24
ROWS_PER_STEP = 3


class BackgroundLoop:
    """An asyncio loop in a daemon thread; ``run`` executes a coroutine there."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 120) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@dataclass
class UiWorld:
    api_url: str
    dsn: str
    models: dict[str, dict[str, Any]]  # name → active model (as the API returned it)
    spare_ml_id: int  # a READY training-service model that is not imported
    alert_coin: str
    evaluations: list[dict[str, Any]]  # outcomes written for "UI Forest time"'s predictions
    receiver: ReceiverStats
    flaky: ReceiverStats  # answers ``flaky.statuses`` in turn, then 200
    flaky_url: str
    http: httpx.Client = field(repr=False)
    pool: asyncpg.Pool = field(repr=False)
    loop: asyncio.AbstractEventLoop = field(repr=False)
    added_coins: set[str] = field(default_factory=set)  # coins tests wrote besides COINS

    def model(self, name: str) -> dict[str, Any]:
        """The model's current state from the API."""
        resp = self.http.get(f"/api/models/{self.models[name]['id']}")
        resp.raise_for_status()
        body: dict[str, Any] = resp.json()
        return body

    def env(self) -> dict[str, str]:
        return {"API_URL": self.api_url, "API_KEY": API_KEY}

    def insert_metrics(self, rows: list[dict[str, Any]]) -> None:
        """coin_metrics rows in one statement, as the collector writes them."""
        asyncio.run_coroutine_threadsafe(insert_metrics(self.pool, rows), self.loop).result(30)

    def deliveries(self, coin_id: str) -> list[dict[str, Any]]:
        resp = self.http.get("/api/webhooks/outbox/deliveries", params={"coin_id": coin_id})
        resp.raise_for_status()
        return list(resp.json()["deliveries"])

    def failed_delivery(self, coin_id: str, model: str = "UI Boost rule") -> dict[str, Any]:
        """A real failed delivery: ``model``'s webhook goes to the flaky receiver, which
        answers 400 (n8n: a bad request, not retried); fresh rows of the new coin ``coin_id``
        are written and predicted. Afterwards the model's URL is as before and the flaky
        receiver answers 200 again (so a re-send succeeds). The failed delivery is returned
        once nothing of the coin is pending or being sent any more."""
        mid = self.models[model]["id"]
        before = self.model(model)["webhook_url"]
        hook = f"{self.flaky_url}/fail"
        self.flaky.statuses[:] = [400] * 20
        try:
            resp = self.http.patch(f"/api/models/{mid}/webhook", json={"url": hook})
            assert resp.status_code == 200, resp.text
            start = datetime.now(UTC) - timedelta(seconds=45)
            self.added_coins.add(coin_id)
            self.insert_metrics(coin_rows(coin_id, 8, start=start, seed=len(coin_id)))

            def settled() -> list[dict[str, Any]]:
                rows = self.deliveries(coin_id)
                if any(d["status"] in ("pending", "sending") for d in rows):
                    return []
                return [d for d in rows if d["status"] == "failed" and d["webhook_url"] == hook]

            failed = eventually_sync(settled, 30, interval=0.2)
            assert failed, f"no failed delivery of {coin_id}: {self.deliveries(coin_id)}"
        finally:
            self.http.patch(f"/api/models/{mid}/webhook", json={"url": before})
            self.flaky.statuses.clear()
        assert len(failed) == 1, failed
        return failed[0]


async def _wait(predicate: Callable[[], Awaitable[bool]], seconds: float, what: str) -> None:
    if not await eventually(predicate, seconds, interval=0.1):
        raise TimeoutError(f"UI test world: {what} did not happen within {seconds}s")


async def _build(
    stack: contextlib.AsyncExitStack,
    pg: PgTestServer,
    trained: dict[str, TrainedFile],
    tmp: Path,
) -> UiWorld:
    name = await pg.create_database()
    stack.push_async_callback(pg.drop_database, name)
    dsn = with_database(pg.admin_dsn, name)
    pool = await create_pool(dsn, min_size=1, max_size=4, connect_timeout=10)
    stack.push_async_callback(pool.close)
    async with pool.acquire() as conn:
        await create_dev_schema(conn)
        await install_coin_metrics_trigger(conn)
    training_url = await stack.enter_async_context(serve_app(create_training_app(dsn)))
    receiver = ReceiverStats(record=True)
    receiver_url = await stack.enter_async_context(serve_app(receiver_app(receiver, any_path=True)))
    flaky = ReceiverStats(record=True)
    flaky_url = await stack.enter_async_context(serve_app(receiver_app(flaky, any_path=True)))
    settings = service_settings(
        tmp,
        training_url=f"{training_url}/api",
        api_key=API_KEY,
        n8n_webhook_url=f"{receiver_url}/hook",
        batch_timeout_seconds=0.1,
        webhook_poll_seconds=0.2,
    )
    api_url = await stack.enter_async_context(serve_app(create_app(settings, dsn)))
    api = await stack.enter_async_context(
        httpx.AsyncClient(base_url=api_url, headers={"X-API-Key": API_KEY}, timeout=30)
    )
    specs = [
        ("UI Forest rule", "rf", "random_forest", False),
        ("UI Boost rule", "xgb", "xgboost", False),
        ("UI Forest time", "rf", "random_forest", True),
        ("UI Spare import", "rf_other", "random_forest", False),
        ("UI Spare delete", "rf_other", "random_forest", False),
    ]
    ids: dict[str, int] = {}
    async with pool.acquire() as conn:
        for label, key, kind, time_based in specs:
            ids[label] = await insert_ml_model(
                conn, name=label, path=trained[key].path, model_type=kind, time_based=time_based
            )
    models: dict[str, dict[str, Any]] = {}
    for label in ("UI Forest rule", "UI Boost rule", "UI Forest time", "UI Spare delete"):
        resp = await api.post("/api/models/import", json={"model_id": ids[label]})
        assert resp.status_code == 201, resp.text
        models[label] = resp.json()
    # Every prediction of these models is an alert: alerts are certain in every page, and
    # the time-based model's can be marked with their outcomes.
    for label in ("UI Boost rule", "UI Forest time"):
        resp = await api.patch(
            f"/api/models/{models[label]['id']}/alert-threshold",
            json={"alert_threshold": 0.01},
        )
        assert resp.status_code == 200, resp.text
        models[label] = resp.json()

    # Fresh data (not stale), written in several statements like a collector does, so
    # each coin gets a probability curve and not just one point.
    start = datetime.now(UTC) - timedelta(seconds=5 * ROWS_PER_COIN + 5)
    rows = {c: coin_rows(c, ROWS_PER_COIN, start=start, seed=i) for i, c in enumerate(COINS)}
    for step in range(0, ROWS_PER_COIN, ROWS_PER_STEP):
        batch = [r for coin in COINS for r in rows[coin][step : step + ROWS_PER_STEP]]
        await insert_metrics(pool, batch)

        async def caught_up() -> bool:
            pending = await pool.fetchval("SELECT count(*) FROM prediction_events")
            return bool(pending == 0)

        await _wait(caught_up, 30, "processing of the coin_metrics events")
    newest = start + timedelta(seconds=5 * (ROWS_PER_COIN - 1))

    async def predicted() -> bool:
        n = await pool.fetchval(
            "SELECT count(*) FROM predictions WHERE data_timestamp = $1", newest
        )
        return bool(n == len(COINS) * len(models))

    await _wait(predicted, 30, "predictions on the newest rows")

    async def delivered() -> bool:
        return len(receiver.requests) >= len(COINS)

    await _wait(delivered, 30, "webhook deliveries")
    alert_coin = await pool.fetchval(
        "SELECT coin_id FROM predictions WHERE is_alert ORDER BY data_timestamp DESC LIMIT 1"
    )
    # Outcomes of the time-based model's predictions (written as the evaluator would; its
    # 10-minute horizon is far in the future of this session): all but the newest snapshot's,
    # which stay pending.
    evaluations = await evaluate_stored(pool, models["UI Forest time"], before=newest)
    return UiWorld(
        api_url=api_url,
        dsn=dsn,
        models=models,
        spare_ml_id=ids["UI Spare import"],
        alert_coin=str(alert_coin),
        evaluations=evaluations,
        receiver=receiver,
        flaky=flaky,
        flaky_url=flaky_url,
        http=httpx.Client(base_url=api_url, headers={"X-API-Key": API_KEY}, timeout=30),
        pool=pool,
        loop=asyncio.get_running_loop(),
    )


@contextlib.contextmanager
def ui_world(pg: PgTestServer, trained: dict[str, TrainedFile], tmp: Path) -> Iterator[UiWorld]:
    background = BackgroundLoop()
    stack = contextlib.AsyncExitStack()
    try:
        world = background.run(_build(stack, pg, trained, tmp))
        try:
            yield world
        finally:
            world.http.close()
    finally:
        background.run(stack.aclose())
        background.close()
