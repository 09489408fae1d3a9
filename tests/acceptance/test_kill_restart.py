"""The real service as a subprocess: SIGKILL it mid-stream, insert more, restart → every
coin's newest snapshot is predicted by every model, and no prediction row is duplicated."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import asyncpg
import httpx
import pytest

from ml_prediction_service.sim.ddl import create_dev_schema
from ml_prediction_service.sim.training_service import create_app as training_app
from tests.support.http import free_port, serve_app
from tests.support.metrics import coin_rows, insert_metrics
from tests.support.models import TrainedFile, insert_ml_model, train_files


@pytest.fixture(scope="module")
def trained_here(tmp_path_factory: pytest.TempPathFactory) -> dict[str, TrainedFile]:
    return train_files(tmp_path_factory.mktemp("kill-models"))


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


async def wait_up(url: str) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            try:
                await client.get(f"{url}/api/health", timeout=2)
                return
            except httpx.HTTPError:
                await asyncio.sleep(0.1)
    raise AssertionError("service did not come up")


@asynccontextmanager
async def training_service(dsn: str) -> AsyncIterator[str]:
    async with serve_app(training_app(dsn)) as url:
        yield f"{url}/api"


async def test_sigkill_mid_stream_then_restart_loses_nothing(
    db_dsn: str, pool: asyncpg.Pool, tmp_path: Path, trained_here: dict[str, TrainedFile]
) -> None:
    async with pool.acquire() as conn:
        await create_dev_schema(conn)
        ids = [
            await insert_ml_model(conn, name="k-rf", path=trained_here["rf"].path),
            await insert_ml_model(
                conn, name="k-xgb", path=trained_here["xgb"].path, model_type="xgboost"
            ),
        ]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    coins = [f"K{i:02d}" for i in range(20)]
    async with training_service(db_dsn) as training_url:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("DB_", "API_"))},
            "DB_DSN": db_dsn,
            "DATA_DIR": str(tmp_path),
            "API_KEY": "k",
            "TRAINING_SERVICE_API_URL": training_url,
            "BATCH_SIZE": "5",
            "BATCH_TIMEOUT_SECONDS": "0.5",
            "LOG_LEVEL": "WARNING",
        }
        with service_process(env, tmp_path, port) as first:
            await wait_up(url)
            async with httpx.AsyncClient(base_url=url, headers={"X-API-Key": "k"}) as api:
                for model_id in ids:
                    assert (
                        await api.post("/api/models/import", json={"model_id": model_id})
                    ).status_code == 201
            await insert_metrics(
                pool, [r for i, c in enumerate(coins) for r in coin_rows(c, 6, seed=i)]
            )
            for step in range(7, 12):  # single-row statements while it works
                for i, coin in enumerate(coins):
                    await insert_metrics(pool, [coin_rows(coin, step, seed=i)[-1]])
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=30)
        # more rows while the service is dead
        for step in range(12, 15):
            await insert_metrics(
                pool, [coin_rows(c, step, seed=i)[-1] for i, c in enumerate(coins)]
            )
        assert await pool.fetchval("SELECT count(*) FROM prediction_events") > 0
        with service_process(env, tmp_path, port):
            await wait_up(url)

            async def complete() -> bool:
                pending = await pool.fetchval("SELECT count(*) FROM prediction_events")
                newest_done = await pool.fetchval(
                    """
                    SELECT count(*) FROM coin_metrics m
                     WHERE m."timestamp" = (SELECT max("timestamp") FROM coin_metrics x
                                             WHERE x.mint = m.mint)
                       AND (SELECT count(*) FROM predictions p
                             WHERE p.coin_id = m.mint AND p.data_timestamp = m."timestamp") = 2
                    """
                )
                return pending == 0 and newest_done == len(coins)

            for _ in range(300):
                if await complete():
                    break
                await asyncio.sleep(0.1)
            assert await complete()
    duplicates = await pool.fetchval(
        "SELECT count(*) FROM (SELECT 1 FROM predictions GROUP BY active_model_id, coin_id, "
        "data_timestamp HAVING count(*) > 1) d"
    )
    assert duplicates == 0
