"""The real service as a subprocess (``python -m ml_prediction_service serve``), and the
training-service stand-in it imports models from."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import asyncpg
import httpx
import psutil

from ml_prediction_service.stand_ins.ddl import create_dev_schema
from ml_prediction_service.stand_ins.training_service import create_app as training_app
from tests.support.http import serve_app
from tests.support.models import TrainedFile, insert_ml_model
from tests.support.wait import eventually

# coins whose newest coin_metrics row has a prediction from both models
NEWEST_PREDICTED = """
SELECT count(*) FROM coin_metrics m
 WHERE m."timestamp" = (SELECT max("timestamp") FROM coin_metrics x WHERE x.mint = m.mint)
   AND (SELECT count(*) FROM predictions p
         WHERE p.coin_id = m.mint AND p.data_timestamp = m."timestamp") = 2
"""
DUPLICATES = """
SELECT count(*) FROM (SELECT 1 FROM predictions
                       GROUP BY active_model_id, coin_id, data_timestamp HAVING count(*) > 1) d
"""


async def two_training_models(
    pool: asyncpg.Pool, trained: dict[str, TrainedFile], prefix: str
) -> list[int]:
    """The stand-in schema plus an RF and an XGBoost model in ml_models; their ids."""
    async with pool.acquire() as conn:
        await create_dev_schema(conn)
        return [
            await insert_ml_model(conn, name=f"{prefix}-rf", path=trained["rf"].path),
            await insert_ml_model(
                conn, name=f"{prefix}-xgb", path=trained["xgb"].path, model_type="xgboost"
            ),
        ]


def service_env(db_dsn: str, data_dir: Path, training_url: str, **extra: str) -> dict[str, str]:
    """The environment of a service process: this machine's, minus any DB_/API_ settings."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DB_", "API_"))},
        "DB_DSN": db_dsn,
        "DATA_DIR": str(data_dir),
        "API_KEY": "k",
        "TRAINING_SERVICE_API_URL": training_url,
        "LOG_LEVEL": "WARNING",
        **extra,
    }


@contextmanager
def service_process(env: dict[str, str], cwd: Path, port: int) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "ml_prediction_service", "serve", "--port", str(port)],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


async def wait_up(url: str, seconds: float = 60.0) -> None:
    """Until the service at ``url`` answers HTTP at all (any status)."""
    async with httpx.AsyncClient() as client:

        async def answers() -> bool:
            await client.get(f"{url}/api/health", timeout=2)
            return True

        up = await eventually(answers, seconds, interval=0.1, ignore=(httpx.HTTPError,))
    assert up, "service did not come up"


@asynccontextmanager
async def training_service(dsn: str) -> AsyncIterator[str]:
    async with serve_app(training_app(dsn)) as url:
        yield f"{url}/api"


def descendants(pid: int) -> list[psutil.Process]:
    """Every living process below ``pid`` (children, grandchildren, …)."""
    return psutil.Process(pid).children(recursive=True)


def still_running(procs: list[psutil.Process], seconds: float) -> list[psutil.Process]:
    """Those of ``procs`` still alive after waiting up to ``seconds`` (zombies count as
    gone: they hold no port and their parent reaps them)."""
    _, alive = psutil.wait_procs(procs, timeout=seconds)
    return [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def port_free(port: int) -> bool:
    """Whether ``127.0.0.1:port`` can be bound (nothing listens on it any more)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def interruptible() -> None:
    """``preexec_fn`` for a child the test stops with SIGINT, as Ctrl-C at a terminal would.

    A shell starts a background job (``cmd &`` without job control, as CI scripts and nohup
    do) with SIGINT ignored, children inherit that, and Python then installs no Ctrl-C
    handler at all: the child would never see the test's SIGINT.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)
