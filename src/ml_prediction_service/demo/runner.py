"""The demo's life cycle: prepare the database and models, start every part, report, stop.

Everything listens on 127.0.0.1. The API, the training-service stand-in, the webhook receiver
and the collector simulator run in this process's event loop; the UI is a Streamlit child
process. SIGINT/SIGTERM (Ctrl-C) stop everything in reverse order.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx

from ml_prediction_service.config import Settings
from ml_prediction_service.demo.api_setup import import_and_activate
from ml_prediction_service.demo.models import ensure_demo_models
from ml_prediction_service.demo.receiver import PATH as RECEIVER_PATH
from ml_prediction_service.demo.receiver import ReceiverStats, receiver_app
from ml_prediction_service.demo.servers import RunningServer, bind, port_of, start_server
from ml_prediction_service.demo.ui_process import UiProcess

HOST = "127.0.0.1"
FOREVER_SECONDS = 10 * 365 * 86400.0  # "until stopped", still a bound for the collector
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@dataclass(frozen=True)
class DemoOptions:
    coins: int = 25
    speed: float = 60.0
    duration: float | None = None  # None: until Ctrl-C
    ui: bool = True
    training_port: int = 8001
    webhook_port: int = 0  # 0: any free port
    seed: int | None = None
    launch_span_seconds: float = 600.0  # simulated seconds over which a generation launches
    status_interval: float = 15.0
    pinned_training: bool = True  # train the demo models under the training service's versions


class Demo:
    def __init__(
        self, settings: Settings, dsn: str, options: DemoOptions, out: Callable[[str], None]
    ) -> None:
        self.settings = settings
        self.dsn = dsn
        self.options = options
        self.out = out
        self.stop = asyncio.Event()
        self.failure: str | None = None
        self.receiver = ReceiverStats()
        self.collector_line = "collector: nothing inserted yet"
        self.api_url = f"http://{HOST}:{settings.api_port}"
        self.demo_dir = settings.data_dir.expanduser().resolve() / "demo"

    def say(self, text: str) -> None:
        self.out(f"demo: {text}")

    # -- preparation -------------------------------------------------------------------
    async def prepare_database(self) -> dict[str, int]:
        from ml_prediction_service.db.pool import connect
        from ml_prediction_service.db.schema import install_coin_metrics_trigger, migrate
        from ml_prediction_service.stand_ins.commands import default_models_dir, ensure_tables

        conn = await connect(self.dsn, timeout=self.settings.db_connect_timeout_seconds)
        try:
            applied = await migrate(conn)
            if applied:
                self.say(f"schema migrated ({', '.join(applied)})")
            created = await ensure_tables(conn, self.settings, ["coin_metrics", "ml_models"])
            if created:
                self.say(f"stand-in tables created: {', '.join(created)}")
            trigger = await install_coin_metrics_trigger(conn)
            if not trigger.installed:
                self.say(f"warning: coin_metrics trigger not installed: {trigger.reason}")
            return await ensure_demo_models(
                conn,
                default_models_dir(self.settings),
                lambda line: self.say(line),
                trainer=self.training_python,
            )
        finally:
            await conn.close()

    async def training_python(self) -> Path | None:
        """The pinned training environment's interpreter (built on first use), or None to
        train with this interpreter (``--no-pinned-training``, or the build failed)."""
        from ml_prediction_service.stand_ins.training_env import (
            PINNED,
            TrainingEnvError,
            ensure_env,
        )

        if not self.options.pinned_training:
            return None
        self.say(
            "training environment with the training service's versions "
            f"({', '.join(PINNED)}): reused, or built once (~1 min, ~800 MB) …"
        )
        try:
            python = await asyncio.to_thread(ensure_env, PINNED)
        except TrainingEnvError as exc:
            first = str(exc).splitlines()[0]
            self.say(
                f"warning: {first}; training the demo models with this interpreter's "
                "libraries instead (--no-pinned-training skips the attempt)"
            )
            return None
        self.say(f"training environment ready: {python}")
        return python

    def service_settings(self, webhook_url: str | None) -> Settings:
        update: dict[str, object] = {
            "api_host": HOST,
            "training_service_api_url": f"http://{HOST}:{self.options.training_port}/api",
        }
        if webhook_url is not None:
            update["n8n_webhook_url"] = webhook_url
        return self.settings.model_copy(update=update)

    # -- running parts -----------------------------------------------------------------
    async def collector(self) -> None:
        """Generation after generation of simulated coins until stopped (or the duration)."""
        from ml_prediction_service.db.pool import create_pool
        from ml_prediction_service.stand_ins.collector import CollectorConfig, run_collector
        from ml_prediction_service.stand_ins.simulator import SimConfig
        from ml_prediction_service.stand_ins.stream import SimulationStream

        opts = self.options
        seed = opts.seed if opts.seed is not None else secrets.randbelow(2**31)
        deadline = time.monotonic() + (opts.duration or FOREVER_SECONDS)
        pool = await create_pool(self.dsn, min_size=1, max_size=2, connect_timeout=30)
        try:
            for generation in range(1_000_000):  # bounded; each generation takes minutes
                remaining = deadline - time.monotonic()
                if remaining <= 0.5:
                    return
                # Timestamps are wall-clock times (the collector places each coin's past
                # behind "now"), so a coin must be new: a run again with the same --seed
                # moves on to the first seed whose coins coin_metrics does not know yet.
                seed = await self._fresh_seed(pool, seed)
                sim = SimConfig(
                    n_coins=opts.coins,
                    seed=seed,
                    start=datetime.now(UTC).replace(microsecond=0),
                    launch_span_seconds=opts.launch_span_seconds,
                    null_fraction=0.001,
                )
                self.say(
                    f"collector: generation {generation + 1}: {opts.coins} coins, seed "
                    f"{seed}, x{opts.speed:g} real time"
                )
                stats = await run_collector(
                    pool,
                    SimulationStream(sim),
                    CollectorConfig(
                        duration_seconds=remaining,
                        speed=opts.speed,
                        progress_interval_seconds=opts.status_interval,
                    ),
                    progress=self._collector_progress,
                )
                if not stats.simulation_over:
                    return
                seed += 1
        finally:
            await pool.close()

    async def _fresh_seed(self, pool: asyncpg.Pool, seed: int) -> int:
        """``seed``, or the first seed after it whose coins have no coin_metrics rows."""
        from ml_prediction_service.db import collector_repo
        from ml_prediction_service.stand_ins.simulator import SimConfig, plan_coins

        for candidate in range(seed, seed + 1000):  # bounded; a clash is rare
            plan = plan_coins(SimConfig(n_coins=self.options.coins, seed=candidate))
            if not await collector_repo.known_mints(pool, [c.mint for c in plan]):
                return candidate
        return seed + 1000

    def _collector_progress(self, line: str) -> None:
        self.collector_line = "collector: " + line.removeprefix("simulate: ")

    async def status_line(self, api: httpx.AsyncClient) -> str:
        try:
            stats = (await api.get("/api/stats")).json()
            alerts = await api.get("/api/predictions", params={"is_alert": True, "limit": 1})
            alert_total = alerts.json().get("total", "?")
        except (httpx.HTTPError, ValueError) as exc:
            return f"status unavailable ({exc})"
        return (
            f"{stats.get('total_predictions', '?')} predictions, {alert_total} alerts, "
            f"{stats.get('active_models', '?')} active models, "
            f"{self.receiver.received} webhooks received"
        )

    async def reporter(self, api: httpx.AsyncClient) -> None:
        interval = self.options.status_interval
        for _ in range(int(FOREVER_SECONDS / interval)):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), interval)
            if self.stop.is_set():
                return
            self.say(self.collector_line)
            self.say(await self.status_line(api))

    # -- the whole thing ----------------------------------------------------------------
    def _on_signal(self, main: asyncio.Task[int], ready: asyncio.Event, sig: int) -> None:
        if self.stop.is_set():
            self.say("stopping already; please wait")
            return
        self.say(f"stopping ({'Ctrl-C' if sig == signal.SIGINT else signal.Signals(sig).name}) …")
        self.stop.set()
        if not ready.is_set():
            main.cancel()  # still preparing: abort the current step

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        main = asyncio.current_task()
        assert main is not None
        ready = asyncio.Event()
        previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, self._on_signal, main, ready, sig)
        try:
            return await self._run(ready)
        except asyncio.CancelledError:
            self.say("stopped during start-up")
            return 130
        finally:
            for sig, handler in previous.items():
                loop.remove_signal_handler(sig)
                signal.signal(sig, handler)  # e.g. the command's SIGTERM-as-SIGINT handler

    def _sockets(self) -> tuple[socket.socket, socket.socket, socket.socket | None]:
        external = self.settings.n8n_webhook_url
        return (
            bind(HOST, self.settings.api_port, "REST API", "API_PORT"),
            bind(HOST, self.options.training_port, "training-service stand-in", "--training-port"),
            None if external else bind(HOST, self.options.webhook_port, "webhook receiver"),
        )

    async def _run(self, ready: asyncio.Event) -> int:
        from ml_prediction_service.api.app import create_app
        from ml_prediction_service.stand_ins.training_service import create_app as training_app

        opts = self.options
        self.demo_dir.mkdir(parents=True, exist_ok=True)
        api_sock, training_sock, receiver_sock = self._sockets()
        ui = UiProcess(self.settings.ui_port, self.api_url, self.settings.api_key, self.demo_dir)
        if opts.ui:
            ui.check_port()
        async with contextlib.AsyncExitStack() as stack:
            for sock in (api_sock, training_sock, receiver_sock):
                if sock is not None:
                    stack.callback(sock.close)
            wanted = await self.prepare_database()
            servers: list[RunningServer] = []
            stack.push_async_callback(self._stop_servers, servers)
            servers.append(
                await start_server("training service", training_app(self.dsn), training_sock)
            )
            webhook_url = self.settings.n8n_webhook_url
            if receiver_sock is not None:
                self.receiver.log_path = self.demo_dir / "webhooks.jsonl"
                servers.append(
                    await start_server(
                        "webhook receiver", receiver_app(self.receiver), receiver_sock
                    )
                )
                webhook_url = f"http://{HOST}:{port_of(receiver_sock)}{RECEIVER_PATH}"
            self.say(f"starting the API on {self.api_url} …")
            api_app = create_app(self.service_settings(webhook_url), self.dsn)
            servers.append(await start_server("REST API", api_app, api_sock))
            headers = {"X-API-Key": self.settings.api_key} if self.settings.api_key else {}
            api = await stack.enter_async_context(
                httpx.AsyncClient(base_url=self.api_url, headers=headers, timeout=120)
            )
            await import_and_activate(api, wanted, lambda line: self.say(line))
            tasks = [asyncio.create_task(self.collector(), name="demo-collector")]
            if opts.ui:
                # Registered before the start: a stop during the start stops the child too.
                stack.push_async_callback(ui.stop)
                await ui.start()
            tasks.append(asyncio.create_task(self.reporter(api), name="demo-reporter"))
            ready.set()
            self._banner(webhook_url)
            await self._wait(tasks, ui if opts.ui else None)
            self.stop.set()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.say(self.collector_line)
            self.say(f"final: {await self.status_line(api)}")
        self.say("stopped" + (f" ({self.failure})" if self.failure else ""))
        return 1 if self.failure else 0

    async def _wait(self, tasks: list[asyncio.Task[None]], ui: UiProcess | None) -> None:
        """Until Ctrl-C, the duration, the end of the collector, or a part failing."""
        collector = tasks[0]
        for _ in range(int(FOREVER_SECONDS)):  # one turn per second at most
            if self.stop.is_set():
                return
            if collector.done():
                exc = collector.exception()
                if exc is not None:
                    self.failure = f"collector failed: {type(exc).__name__}: {exc}"
                elif self.options.duration is None:
                    self.failure = "collector ended unexpectedly"
                else:
                    self.say(f"duration of {self.options.duration:g}s reached")
                return
            if ui is not None and (problem := ui.problem()):
                self.failure = problem
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), 1.0)

    async def _stop_servers(self, servers: list[RunningServer]) -> None:
        for server in reversed(servers):
            await server.stop()

    def _banner(self, webhook_url: str | None) -> None:
        lines = [
            "",
            "ML Prediction Service demo is running. Ctrl-C stops everything.",
        ]
        if self.options.ui:
            lines.append(f"  Web UI            http://{HOST}:{self.settings.ui_port}")
        lines += [
            f"  REST API          {self.api_url}   (OpenAPI: {self.api_url}/docs)",
            f"  Training service  http://{HOST}:{self.options.training_port}/api   (stand-in)",
            f"  Webhooks          {webhook_url or 'off (N8N_WEBHOOK_URL not set)'}"
            + (f"   (log: {self.receiver.log_path})" if self.receiver.log_path is not None else ""),
            f"  Database          {self.dsn}",
            f"  Collector         {self.options.coins} coins per generation at "
            f"x{self.options.speed:g} real time"
            + (
                f", for {self.options.duration:g}s"
                if self.options.duration is not None
                else ", until stopped"
            ),
            "",
        ]
        for line in lines:
            self.out(line)
