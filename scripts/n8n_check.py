"""The real-n8n check: a real n8n receives every alert once, with the guide's payload plus `tag`.

Run from the repository root (it uses this checkout's ``src/`` and ``tests/support``)::

    python scripts/n8n_check.py                 # installs n8n 2.8.4 first if absent
    python scripts/n8n_check.py --no-install    # fail instead of installing

What it does, all on 127.0.0.1:

1. Installs ``n8n@2.8.4`` with npm into a cache directory outside the repository
   (``~/.cache/ml-prediction-service/n8n-2.8.4``, ``--n8n-dir`` or ``N8N_CHECK_DIR``; about
   2.3 GB and several minutes, once) unless it is there.
2. Starts that n8n on a free port with a throw-away ``N8N_USER_FOLDER`` (SQLite, telemetry,
   version notifications, templates and the like off), sets up the owner through n8n's REST
   API (``POST /rest/owner/setup``; the ``n8n-auth`` cookie authenticates the rest) and creates
   a workflow with one Webhook trigger node (POST ``/webhook/<path>``). n8n saves every
   execution, each with the request's headers and parsed body, so the executions are what n8n
   received; they are read back through ``/rest/executions``.
3. Starts this service in-process (API + pipeline) on an embedded PostgreSQL with the
   training-service stand-in, imports two small models (RF, XGBoost) whose webhook URL is
   n8n's production URL and whose send mode is ``alerts_only``.
4. Phase "404": coin_metrics rows while the workflow is not published. n8n answers 404, the
   service retries; then the workflow is published and those deliveries arrive.
5. Phase "live": more coins (and a second snapshot of some) while the workflow is active.
6. Phase "unpublished": the workflow is deactivated (404 again), rows arrive, the workflow is
   published again and the deliveries arrive.
7. Verifies: every outbox delivery to n8n ended ``delivered`` (none failed, expired or
   superseded); n8n has exactly one successful execution per delivery (by ``Idempotency-Key``,
   none twice); each received body equals the stored payload and matches
   ``docs/webhook-payload.schema.json`` (so every prediction carries ``tag``, consistent with
   ``is_alert``/``prediction``); every alert prediction is in exactly one received body and
   nothing but alerts was sent; the 404 phases produced 404 ``retry`` log rows whose deliveries
   later arrived. Prints PASS/FAIL with counts; exit status 0 only on PASS.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
for _path in (REPO, REPO / "src"):  # this checkout's package and test helpers come first
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import asyncpg  # noqa: E402
import httpx  # noqa: E402
from tests.support.metrics import coin_rows, insert_metrics  # noqa: E402
from tests.support.models import insert_ml_model, train_files  # noqa: E402
from tests.support.settings import service_settings  # noqa: E402

from ml_prediction_service.api.app import create_app  # noqa: E402
from ml_prediction_service.db.embedded import start_embedded, stop_embedded  # noqa: E402
from ml_prediction_service.db.pool import connect, create_pool  # noqa: E402
from ml_prediction_service.db.schema import install_coin_metrics_trigger, migrate  # noqa: E402
from ml_prediction_service.httpserve import serving  # noqa: E402
from ml_prediction_service.stand_ins.ddl import create_dev_schema  # noqa: E402
from ml_prediction_service.stand_ins.training_service import (  # noqa: E402
    create_app as training_app,
)

N8N_VERSION = "2.8.4"
DEFAULT_N8N_DIR = Path("~/.cache/ml-prediction-service") / f"n8n-{N8N_VERSION}"
HOST = "127.0.0.1"
WEBHOOK_PATH = "ml-prediction-alerts"
OWNER = {
    "email": "owner@example.com",
    "firstName": "Check",
    "lastName": "Owner",
    "password": "Check-n8n-1234",
}
# n8n-nodes-base depends on xlsx as a tarball from cdn.sheetjs.com, not from the npm registry
# (unreachable where only package registries are): the registry's last xlsx stands in for it
# (only the Spreadsheet File / Extract from File nodes use it; the check uses neither).
CACHE_PACKAGE = {"name": "n8n-check-cache", "private": True, "overrides": {"xlsx": "0.18.5"}}
EXECUTION_STATUSES = [
    "canceled",
    "crashed",
    "error",
    "new",
    "running",
    "success",
    "unknown",
    "waiting",
]
BROWSER_ID = "ml-prediction-service-n8n-check"
API_KEY = "k"


def say(text: str) -> None:
    print(f"n8n-check: {text}", flush=True)


class CheckError(RuntimeError):
    """A step of the check could not be done (not a verification failure)."""


# -- installing n8n --------------------------------------------------------------------------
def n8n_bin(n8n_dir: Path) -> Path:
    return n8n_dir / "node_modules" / ".bin" / "n8n"


def installed_version(n8n_dir: Path) -> str | None:
    package = n8n_dir / "node_modules" / "n8n" / "package.json"
    if not package.exists() or not n8n_bin(n8n_dir).exists():
        return None
    return str(json.loads(package.read_text())["version"])


def ensure_n8n(n8n_dir: Path, *, install: bool, timeout: float) -> Path:
    """The n8n executable of ``n8n_dir``; ``npm install n8n@N8N_VERSION`` there first if it
    is absent (and ``install``)."""
    version = installed_version(n8n_dir)
    if version == N8N_VERSION:
        return n8n_bin(n8n_dir)
    if version is not None:
        raise CheckError(f"{n8n_dir} holds n8n {version}, not {N8N_VERSION}")
    if not install:
        raise CheckError(f"n8n {N8N_VERSION} is not installed in {n8n_dir} (--no-install)")
    npm = shutil.which("npm")
    if npm is None:
        raise CheckError("npm is not on PATH (Node.js 20+ with npm is needed for n8n)")
    n8n_dir.mkdir(parents=True, exist_ok=True)
    (n8n_dir / "package.json").write_text(json.dumps(CACHE_PACKAGE, indent=2) + "\n")
    log = n8n_dir / "npm-install.log"
    say(
        f"installing n8n {N8N_VERSION} into {n8n_dir} (npm, ~2.3 GB, several minutes; log: {log}) …"
    )
    started = time.monotonic()
    with log.open("w") as out:
        try:
            subprocess.run(
                [npm, "install", f"n8n@{N8N_VERSION}", "--no-audit", "--no-fund"],
                cwd=n8n_dir,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=True,
            )
        except subprocess.TimeoutExpired as exc:
            raise CheckError(f"npm install did not finish within {timeout:g}s (see {log})") from exc
        except subprocess.CalledProcessError as exc:
            raise CheckError(
                f"npm install failed with status {exc.returncode} (see {log})"
            ) from exc
    if installed_version(n8n_dir) != N8N_VERSION:
        raise CheckError(f"npm install finished but n8n {N8N_VERSION} is not in {n8n_dir}")
    say(f"n8n {N8N_VERSION} installed in {time.monotonic() - started:.0f}s")
    return n8n_bin(n8n_dir)


# -- running n8n -----------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def n8n_env(user_folder: Path, port: int, broker_port: int) -> dict[str, str]:
    """n8n on 127.0.0.1:``port`` with its state in ``user_folder`` and nothing phoning home."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "NODE_OPTIONS")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(
        {
            "N8N_USER_FOLDER": str(user_folder),
            "N8N_PORT": str(port),
            "N8N_LISTEN_ADDRESS": HOST,
            "N8N_HOST": HOST,
            "N8N_PROTOCOL": "http",
            "WEBHOOK_URL": f"http://{HOST}:{port}/",
            "N8N_EDITOR_BASE_URL": f"http://{HOST}:{port}/",
            "DB_TYPE": "sqlite",
            "N8N_SECURE_COOKIE": "false",  # plain http on 127.0.0.1
            "N8N_DIAGNOSTICS_ENABLED": "false",
            "N8N_DIAGNOSTICS_CONFIG_FRONTEND": "",
            "N8N_DIAGNOSTICS_CONFIG_BACKEND": "",
            "N8N_VERSION_NOTIFICATIONS_ENABLED": "false",
            "N8N_TEMPLATES_ENABLED": "false",
            "N8N_PERSONALIZATION_ENABLED": "false",
            "N8N_HIRING_BANNER_ENABLED": "false",
            "N8N_COMMUNITY_PACKAGES_ENABLED": "false",
            "N8N_AI_ENABLED": "false",
            "EXTERNAL_FRONTEND_HOOKS_URLS": "",
            "N8N_ENFORCE_SETTINGS_FILE_PERMISSIONS": "true",
            "N8N_RUNNERS_BROKER_PORT": str(broker_port),  # default 5679: one n8n per machine
            "N8N_LOG_LEVEL": "info",
            "N8N_LOG_OUTPUT": "console",
            "EXECUTIONS_DATA_SAVE_ON_SUCCESS": "all",
            "EXECUTIONS_DATA_SAVE_ON_ERROR": "all",
            "EXECUTIONS_DATA_PRUNE": "false",
            "GENERIC_TIMEZONE": "UTC",
            "NODE_ENV": "production",
        }
    )
    return env


@dataclass
class N8nProcess:
    url: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


@contextlib.contextmanager
def n8n_process(binary: Path, workdir: Path) -> Iterator[N8nProcess]:
    """``n8n start`` as a child process (its own process group), stopped afterwards."""
    port = free_port()
    user_folder = workdir / "n8n-home"
    user_folder.mkdir(parents=True)
    log_path = workdir / "n8n.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(binary), "start"],
            cwd=workdir,
            env=n8n_env(user_folder, port, free_port()),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield N8nProcess(f"http://{HOST}:{port}", proc, log_path)
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


async def wait_ready(n8n: N8nProcess, seconds: float) -> float:
    """Until n8n's REST API is up; the seconds it took."""
    started = time.monotonic()
    async with httpx.AsyncClient(timeout=2) as client:
        while time.monotonic() - started < seconds:
            if n8n.proc.poll() is not None:
                raise CheckError(
                    f"n8n exited with status {n8n.proc.returncode} during start-up:\n"
                    + n8n.log_tail()
                )
            with contextlib.suppress(httpx.HTTPError):
                # /healthz/readiness answers 200 while migrations still run, and until the REST
                # API is up every path answers an HTML page: JSON from /rest/settings = up
                resp = await client.get(f"{n8n.url}/rest/settings")
                if resp.status_code == 200 and resp.headers.get("content-type", "").startswith(
                    "application/json"
                ):
                    return time.monotonic() - started
            await asyncio.sleep(0.5)
    raise CheckError(f"n8n was not ready within {seconds:g}s:\n" + n8n.log_tail())


# -- n8n's REST API --------------------------------------------------------------------------
def unflatten(text: str) -> Any:
    """Decode n8n's stored execution data (the ``flatted`` format: a JSON array whose first
    element is the root; inside objects and arrays every string is the index of the entry
    that holds the value; strings themselves are entries)."""
    table = json.loads(text)
    done: dict[int, Any] = {}

    def value(index: int) -> Any:
        if index in done:
            return done[index]
        raw = table[index]
        if isinstance(raw, list):
            out_list: list[Any] = []
            done[index] = out_list
            out_list.extend(ref(v) for v in raw)
            return out_list
        if isinstance(raw, dict):
            out_dict: dict[str, Any] = {}
            done[index] = out_dict
            for key, v in raw.items():
                out_dict[key] = ref(v)
            return out_dict
        done[index] = raw
        return raw

    def ref(v: Any) -> Any:
        return value(int(v)) if isinstance(v, str) else v

    return value(0)


def webhook_workflow(path: str) -> dict[str, Any]:
    """One Webhook trigger node: POST /webhook/<path>, answers 200 at once; n8n saves each
    execution (headers and parsed body of the request) on success."""
    return {
        "name": "ml-prediction-service alerts (check)",
        "active": False,
        "nodes": [
            {
                "id": str(uuid.uuid4()),
                "name": "Alert webhook",
                "type": "n8n-nodes-base.webhook",
                "typeVersion": 2,
                "position": [0, 0],
                "webhookId": str(uuid.uuid4()),
                "parameters": {
                    "httpMethod": "POST",
                    "path": path,
                    "responseMode": "onReceived",
                    "options": {},
                },
            }
        ],
        "connections": {},
        "settings": {
            "executionOrder": "v1",
            "saveDataSuccessExecution": "all",
            "saveDataErrorExecution": "all",
            "saveManualExecutions": True,
        },
    }


@dataclass
class Received:
    """One saved n8n execution of the workflow: what n8n received."""

    execution_id: str
    status: str
    headers: dict[str, Any]
    body: Any


class N8nApi:
    """The calls the check makes to n8n's internal REST API (``/rest``, cookie auth)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.client = httpx.AsyncClient(
            base_url=url, timeout=30, headers={"browser-id": BROWSER_ID}
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    async def _call(self, method: str, path: str, **kw: Any) -> Any:
        resp = await self.client.request(method, path, **kw)
        if not resp.is_success:
            raise CheckError(f"n8n {method} {path}: HTTP {resp.status_code}: {resp.text[:500]}")
        body = resp.json()
        return body.get("data", body) if isinstance(body, dict) else body

    async def setup_owner(self) -> None:
        await self._call("POST", "/rest/owner/setup", json=OWNER)
        if not self.client.cookies:
            raise CheckError("n8n's owner setup set no auth cookie")

    async def create_workflow(self, workflow: dict[str, Any]) -> dict[str, Any]:
        data: dict[str, Any] = await self._call("POST", "/rest/workflows", json=workflow)
        return data

    async def workflow(self, workflow_id: str) -> dict[str, Any]:
        data: dict[str, Any] = await self._call("GET", f"/rest/workflows/{workflow_id}")
        return data

    async def activate(self, workflow_id: str) -> dict[str, Any]:
        """Publish (activate) the workflow's current version (n8n 2.x: ``versionId``)."""
        current = await self.workflow(workflow_id)
        data: dict[str, Any] = await self._call(
            "POST",
            f"/rest/workflows/{workflow_id}/activate",
            json={"versionId": current["versionId"]},
        )
        return data

    async def deactivate(self, workflow_id: str) -> dict[str, Any]:
        data: dict[str, Any] = await self._call(
            "POST", f"/rest/workflows/{workflow_id}/deactivate", json={}
        )
        return data

    async def execution_ids(self, workflow_id: str) -> list[str]:
        ids: list[str] = []
        last: str | None = None
        for _ in range(1000):  # pages of 100, bounded
            # with a status filter n8n pages by id (newest first; lastId: ids below it)
            flt: dict[str, Any] = {"workflowId": workflow_id, "status": EXECUTION_STATUSES}
            params = {"filter": json.dumps(flt), "limit": "100"}
            if last is not None:
                params["lastId"] = last
            data = await self._call("GET", "/rest/executions", params=params)
            results = data["results"]
            ids += [str(r["id"]) for r in results]
            if len(results) < 100:
                break
            last = str(results[-1]["id"])
        return ids

    async def execution(self, execution_id: str) -> Received:
        data = await self._call("GET", f"/rest/executions/{execution_id}")
        run = unflatten(data["data"])
        items = run["resultData"]["runData"]["Alert webhook"][0]["data"]["main"][0]
        if len(items) != 1:
            raise CheckError(f"execution {execution_id} has {len(items)} items, not 1")
        item = items[0]["json"]
        return Received(str(data["id"]), str(data.get("status")), item["headers"], item["body"])


# -- the service under test ------------------------------------------------------------------
@dataclass
class Phase:
    name: str
    coins: list[str]
    n8n_404s: int = 0  # 404 retry rows of this phase's deliveries
    delivered: int = 0


@dataclass
class Results:
    phases: list[Phase] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    counts: dict[str, Any] = field(default_factory=dict)

    def check(self, ok: bool, problem: str) -> bool:
        if not ok:
            self.problems.append(problem)
        return ok


async def _outbox(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    return list(
        await pool.fetch(
            "SELECT id, coin_id, data_timestamp, webhook_url, payload::json AS payload, "
            "idempotency_key, status, attempts, last_status, last_error "
            "FROM prediction_webhook_outbox ORDER BY id"
        )
    )


async def _wait(what: str, predicate: Any, seconds: float, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = await predicate()
        if value or time.monotonic() > deadline:
            if not value:
                say(f"timed out after {seconds:g}s waiting for {what}")
            return value
        await asyncio.sleep(interval)


async def _settled(pool: asyncpg.Pool) -> bool:
    open_ = await pool.fetchval(
        "SELECT count(*) FROM prediction_webhook_outbox WHERE status IN ('pending', 'sending')"
    )
    return int(open_) == 0


async def _phase_rows(
    pool: asyncpg.Pool, phase: Phase, start: datetime, seed: int, models: int, snapshots: int = 1
) -> None:
    """Each coin of ``phase``: 8 rows of history in one statement (predicted as one snapshot,
    the newest), then ``snapshots - 1`` more rows per coin, one statement each, every one after
    the previous snapshot was predicted and its deliveries settled."""
    for n in range(8, 8 + snapshots):
        if n == 8:
            rows = [
                r
                for i, coin in enumerate(phase.coins)
                for r in coin_rows(coin, 8, start=start, seed=seed + i)
            ]
        else:
            await _wait("deliveries to settle", lambda: _settled(pool), 120)
            rows = [
                coin_rows(coin, n, start=start, seed=seed + i)[-1]
                for i, coin in enumerate(phase.coins)
            ]
        await insert_metrics(pool, rows)
        newest = datetime.fromisoformat(rows[-1]["timestamp"])
        await _wait(
            "predictions",
            lambda at=newest: _predicted(pool, phase.coins, at, len(phase.coins) * models),
            60,
        )


async def _predicted(pool: asyncpg.Pool, coins: list[str], at: datetime, want: int) -> bool:
    n = await pool.fetchval(
        "SELECT count(*) FROM predictions WHERE coin_id = ANY($1::text[]) AND data_timestamp = $2",
        coins,
        at,
    )
    return int(n) >= want


async def _phase_404s(pool: asyncpg.Pool, coins: list[str]) -> int:
    n = await pool.fetchval(
        "SELECT count(*) FROM prediction_webhook_log WHERE response_status = 404 "
        "AND outcome = 'retry' AND coin_id = ANY($1::text[])",
        coins,
    )
    return int(n)


async def _deliveries_of(pool: asyncpg.Pool, coins: list[str]) -> list[asyncpg.Record]:
    return list(
        await pool.fetch(
            "SELECT id, status FROM prediction_webhook_outbox WHERE coin_id = ANY($1::text[])",
            coins,
        )
    )


async def run_check(binary: Path, workdir: Path, args: argparse.Namespace) -> Results:
    res = Results()
    with n8n_process(binary, workdir) as n8n:
        say(f"n8n {N8N_VERSION} starting on {n8n.url} (log: {n8n.log_path}) …")
        took = await wait_ready(n8n, args.start_timeout)
        say(f"n8n ready after {took:.1f}s")
        n8n_api = N8nApi(n8n.url)
        try:
            await n8n_api.setup_owner()
            say("owner set up through POST /rest/owner/setup")
            wf = await n8n_api.create_workflow(webhook_workflow(WEBHOOK_PATH))
            wf_id = str(wf["id"])
            hook_url = f"{n8n.url}/webhook/{WEBHOOK_PATH}"
            say(f"workflow {wf_id} created (not published); production URL {hook_url}")
            async with httpx.AsyncClient(timeout=10) as probe:
                resp = await probe.post(hook_url, json={"probe": True})
            res.counts["probe_before_publish"] = f"HTTP {resp.status_code}: {resp.text[:200]}"
            say(f"probe POST before publishing: {res.counts['probe_before_publish']}")
            res.check(resp.status_code == 404, "n8n did not answer 404 before the publish")
            await _service_part(n8n_api, wf_id, hook_url, workdir, args, res)
            await _verify_n8n(n8n_api, wf_id, workdir, res)
        finally:
            await n8n_api.aclose()
        if n8n.proc.poll() is not None:
            res.problems.append(f"n8n exited early with status {n8n.proc.returncode}")
    return res


@contextlib.asynccontextmanager
async def embedded_db(workdir: Path) -> AsyncIterator[str]:
    folder = workdir / "pg"
    db = await asyncio.to_thread(start_embedded, folder, cleanup="delete")
    try:
        yield db.dsn
    finally:
        await asyncio.to_thread(stop_embedded, folder)


async def _service_part(
    n8n_api: N8nApi,
    wf_id: str,
    hook_url: str,
    workdir: Path,
    args: argparse.Namespace,
    res: Results,
) -> None:
    async with embedded_db(workdir) as dsn:
        say(f"embedded PostgreSQL at {dsn}")
        conn = await connect(dsn)
        try:
            await migrate(conn)
            await create_dev_schema(conn)
            await install_coin_metrics_trigger(conn)
            trained = await asyncio.to_thread(train_files, workdir / "trained")
            model_ids = [
                await insert_ml_model(conn, name="n8n-check-rf", path=trained["rf"].path),
                await insert_ml_model(
                    conn, name="n8n-check-xgb", path=trained["xgb"].path, model_type="xgboost"
                ),
            ]
        finally:
            await conn.close()
        pool = await create_pool(dsn, min_size=1, max_size=4, connect_timeout=10)
        try:
            async with serving("training-service stand-in", training_app(dsn)) as training:
                settings = service_settings(
                    workdir / "service",
                    training_url=f"{training.url}/api",
                    api_key=API_KEY,
                    n8n_webhook_url=hook_url,
                    webhook_retry_base_seconds=0.2,
                    webhook_retry_max_seconds=1.0,
                    webhook_poll_seconds=0.2,
                    webhook_max_age_seconds=600,
                    log_level="WARNING",
                )
                app = create_app(settings, dsn)
                async with (
                    serving("service", app) as svc,
                    httpx.AsyncClient(
                        base_url=svc.url, timeout=60, headers={"X-API-Key": API_KEY}
                    ) as api,
                ):
                    say(f"service up on {svc.url}, webhooks to {hook_url}")
                    await _phases(api, pool, n8n_api, wf_id, model_ids, args, res)
                    crashes = app.state.service.metrics.errors_total.labels(type="task_crash")
                    res.check(crashes._value.get() == 0, "a background task of the service crashed")
            await _verify_outbox(pool, hook_url, res)
        finally:
            await pool.close()


async def _import(api: httpx.AsyncClient, model_id: int, threshold: float) -> dict[str, Any]:
    resp = await api.post("/api/models/import", json={"model_id": model_id})
    if resp.status_code != 201:
        raise CheckError(f"import of ml_models {model_id}: HTTP {resp.status_code}: {resp.text}")
    model: dict[str, Any] = resp.json()
    for path, body in (
        (f"/api/models/{model['id']}/webhook", {"send_mode": ["alerts_only"], "enabled": True}),
        (f"/api/models/{model['id']}/alert-threshold", {"alert_threshold": threshold}),
    ):
        r = await api.patch(path, json=body)
        if not r.is_success:
            raise CheckError(f"PATCH {path}: HTTP {r.status_code}: {r.text}")
        model = r.json()
    return model


async def _phases(
    api: httpx.AsyncClient,
    pool: asyncpg.Pool,
    n8n_api: N8nApi,
    wf_id: str,
    model_ids: list[int],
    args: argparse.Namespace,
    res: Results,
) -> None:
    # thresholds amid these models' probabilities on the check's coins: some snapshots are an
    # alert of one model, some of both, some of none (alerts_only: those send nothing)
    models = [await _import(api, model_ids[0], 0.75), await _import(api, model_ids[1], 0.9)]
    res.counts["models"] = [
        f"{m['id']} ({m['model_type']}, alert_threshold {m['alert_threshold']})" for m in models
    ]
    start = (datetime.now(UTC) - timedelta(minutes=2)).replace(microsecond=0)
    n = args.coins

    # 1) the workflow is not published yet: n8n answers 404, the service retries; publish
    p404 = Phase("404 before publish", [f"N8N404-{i:03d}" for i in range(max(1, n // 4))])
    res.phases.append(p404)
    await _while_unpublished(pool, p404, start, 100, len(models))
    await n8n_api.activate(wf_id)
    say("workflow published (POST /rest/workflows/{id}/activate)")
    await _wait("deliveries after publish", lambda: _settled(pool), 60)

    # 2) the workflow is active: coins and a second and third snapshot of each
    live = Phase("live", [f"N8NLIVE-{i:03d}" for i in range(n)])
    res.phases.append(live)
    await _phase_rows(pool, live, start, seed=200, models=len(models), snapshots=3)
    await _wait("live deliveries", lambda: _settled(pool), 120)
    say(f"phase {live.name!r}: {len(await _deliveries_of(pool, live.coins))} deliveries")

    # 3) unpublished again: 404s, retries, published again, delivered
    again = Phase("404 after unpublish", [f"N8NOFF-{i:03d}" for i in range(max(1, n // 4))])
    res.phases.append(again)
    await n8n_api.deactivate(wf_id)
    say("workflow unpublished (POST /rest/workflows/{id}/deactivate)")
    await _while_unpublished(pool, again, start, 300, len(models))
    await n8n_api.activate(wf_id)
    say("workflow published again")
    res.check(
        bool(await _wait("all deliveries", lambda: _settled(pool), 120)),
        "deliveries still open after the last phase",
    )
    for phase in res.phases:
        rows_ = await _deliveries_of(pool, phase.coins)
        phase.delivered = sum(1 for r in rows_ if r["status"] == "delivered")
    for phase in res.phases:
        res.check(phase.delivered > 0, f"phase {phase.name!r}: no delivery at all")
    res.check(p404.n8n_404s > 0, f"phase {p404.name!r}: no HTTP 404 retry recorded")
    res.check(again.n8n_404s > 0, f"phase {again.name!r}: no HTTP 404 retry recorded")
    body = await pool.fetchval(
        "SELECT response_body FROM prediction_webhook_log WHERE response_status = 404 "
        "ORDER BY id LIMIT 1"
    )
    res.counts["service_got_404_body"] = (body or "")[:160]
    body = await pool.fetchval(
        "SELECT response_body FROM prediction_webhook_log WHERE outcome = 'delivered' "
        "ORDER BY id LIMIT 1"
    )
    res.counts["service_got_200_body"] = (body or "")[:160]


async def _while_unpublished(
    pool: asyncpg.Pool, phase: Phase, start: datetime, seed: int, models: int
) -> None:
    """The phase's rows while n8n answers 404; back once each of its deliveries got a 404."""
    await _phase_rows(pool, phase, start, seed=seed, models=models)
    ids = [d["id"] for d in await _deliveries_of(pool, phase.coins)]
    await _wait("a 404 for each delivery", lambda: _each_saw_404(pool, ids), 60)
    phase.n8n_404s = await _phase_404s(pool, phase.coins)
    say(f"phase {phase.name!r}: {len(ids)} deliveries, {phase.n8n_404s} HTTP 404 retries")


async def _each_saw_404(pool: asyncpg.Pool, ids: list[int]) -> bool:
    n = await pool.fetchval(
        "SELECT count(DISTINCT outbox_id) FROM prediction_webhook_log "
        "WHERE response_status = 404 AND outbox_id = ANY($1::bigint[])",
        ids,
    )
    return int(n) == len(ids)


async def _verify_outbox(pool: asyncpg.Pool, hook_url: str, res: Results) -> None:
    outbox = await _outbox(pool)
    res.counts["outbox"] = dict(Counter(r["status"] for r in outbox))
    res.counts["expected"] = {r["idempotency_key"]: (r["payload"], r["coin_id"]) for r in outbox}
    res.check(bool(outbox), "no delivery was queued at all")
    res.check(all(r["webhook_url"] == hook_url for r in outbox), "a delivery to another URL")
    bad = [r for r in outbox if r["status"] != "delivered"]
    res.check(
        not bad,
        f"{len(bad)} deliveries not delivered: "
        + ", ".join(
            f"{r['id']} {r['status']} ({r['last_status']}, {r['last_error']})" for r in bad[:5]
        ),
    )
    # every alert prediction (sent ones: not suppressed, not stale) → in exactly one payload
    alerts = await pool.fetch(
        "SELECT coin_id, active_model_id, data_timestamp, probability FROM predictions "
        "WHERE is_alert"
    )
    res.counts["predictions"] = int(await pool.fetchval("SELECT count(*) FROM predictions"))
    res.counts["alert_predictions"] = len(alerts)
    res.check(
        0 < len(alerts) < res.counts["predictions"],
        "want alerts and non-alerts among the predictions (thresholds)",
    )
    res.counts["log"] = {
        f"{r[0]} {r[1]}": int(r[2])
        for r in await pool.fetch(
            "SELECT outcome, response_status, count(*) FROM prediction_webhook_log GROUP BY 1, 2 "
            "ORDER BY 1, 2"
        )
    }
    sent: Counter[tuple[str, int, str]] = Counter()
    for r in outbox:
        payload = r["payload"]
        for p in payload["predictions"]:
            sent[(payload["coin_id"], p["model"]["active_model_id"], payload["timestamp"])] += 1
    want = Counter(
        (a["coin_id"], a["active_model_id"], a["data_timestamp"].isoformat()) for a in alerts
    )
    res.check(
        sent == want,
        f"sent predictions ≠ alert predictions: {len(sent)} sent, {len(want)} alerts; "
        f"missing {list(want - sent)[:3]}, extra {list(sent - want)[:3]}",
    )


async def _verify_n8n(n8n_api: N8nApi, wf_id: str, workdir: Path, res: Results) -> None:
    from jsonschema import Draft202012Validator, FormatChecker

    expected: dict[str, tuple[Any, str]] = res.counts.pop("expected", {})
    ids = await n8n_api.execution_ids(wf_id)
    received = [await n8n_api.execution(i) for i in ids]
    with (workdir / "n8n-received.jsonl").open("w") as out:
        for r in received:
            out.write(
                json.dumps({"execution": r.execution_id, "headers": r.headers, "body": r.body})
                + "\n"
            )
    res.counts["n8n_executions"] = len(received)
    res.counts["n8n_statuses"] = dict(Counter(r.status for r in received))
    keys = Counter(str(r.headers.get("idempotency-key")) for r in received)
    twice = [k for k, c in keys.items() if c > 1]
    res.check(not twice, f"{len(twice)} deliveries reached n8n more than once: {twice[:3]}")
    missing = set(expected) - set(keys)
    extra = set(keys) - set(expected)
    res.check(not missing, f"{len(missing)} deliveries never reached n8n: {sorted(missing)[:3]}")
    res.check(not extra, f"{len(extra)} executions n8n got that the service did not send")
    res.check(
        all(r.status == "success" for r in received),
        f"n8n executions: {res.counts['n8n_statuses']}",
    )
    schema = json.loads((REPO / "docs" / "webhook-payload.schema.json").read_text())
    validator = Draft202012Validator(schema, format_checker=FormatChecker())
    invalid = 0
    differ = 0
    tags: Counter[str] = Counter()
    for r in received:
        errors = list(validator.iter_errors(r.body))
        if errors:
            invalid += 1
            if invalid <= 3:
                res.problems.append(
                    f"execution {r.execution_id}: not the guide's shape: {errors[0].message}"
                )
        want = expected.get(str(r.headers.get("idempotency-key")))
        if want is not None and want[0] != r.body:
            differ += 1
        for p in r.body.get("predictions", []) if isinstance(r.body, dict) else []:
            tags[str(p.get("tag"))] += 1
            consistent = p.get("tag") == (
                "alert"
                if p.get("is_alert")
                else ("positive" if p.get("prediction") else "negative")
            )
            res.check(
                consistent, f"execution {r.execution_id}: tag {p.get('tag')} ≠ is_alert/prediction"
            )
        res.check(
            r.headers.get("content-type", "").startswith("application/json")
            and r.headers.get("user-agent") == "ml-prediction-service",
            f"execution {r.execution_id}: headers {r.headers}",
        )
    res.counts["schema_invalid"] = invalid
    res.counts["body_differs_from_outbox"] = differ
    res.counts["tags_received"] = dict(tags)
    res.check(differ == 0, f"{differ} bodies n8n received differ from the stored payload")
    res.check(set(tags) == {"alert"}, f"send mode alerts_only, but n8n received tags {dict(tags)}")


def report(res: Results, seconds: float) -> bool:
    ok = not res.problems
    print()
    print(f"n8n {N8N_VERSION} real check: {'PASS' if ok else 'FAIL'} ({seconds:.0f}s)")
    for phase in res.phases:
        print(
            f"  phase {phase.name!r}: {len(phase.coins)} coins, {phase.delivered} delivered, "
            f"{phase.n8n_404s} HTTP 404 retries before"
        )
    for key, value in res.counts.items():
        print(f"  {key}: {value}")
    for problem in res.problems:
        print(f"  FAIL: {problem}")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--n8n-dir",
        type=Path,
        default=Path(os.environ.get("N8N_CHECK_DIR") or DEFAULT_N8N_DIR).expanduser(),
        help=f"where n8n {N8N_VERSION} is (or gets) installed (default {DEFAULT_N8N_DIR})",
    )
    parser.add_argument("--no-install", action="store_true", help="fail if n8n is absent")
    parser.add_argument("--install-timeout", type=float, default=1800.0)
    parser.add_argument("--start-timeout", type=float, default=180.0)
    parser.add_argument("--coins", type=int, default=20, help="coins of the live phase")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        binary = ensure_n8n(args.n8n_dir, install=not args.no_install, timeout=args.install_timeout)
    except CheckError as exc:
        print(f"n8n {N8N_VERSION} real check: FAIL: {exc}")
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="mps-n8n-check-"))
    try:
        res = asyncio.run(asyncio.wait_for(run_check(binary, workdir, args), 900))
    except (CheckError, TimeoutError) as exc:
        res = Results(problems=[f"{type(exc).__name__}: {exc}"])
    ok = report(res, time.monotonic() - started)
    if args.keep or not ok:
        print(f"  work directory (n8n log, received bodies): {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
