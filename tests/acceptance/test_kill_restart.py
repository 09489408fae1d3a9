"""The real service as a subprocess: SIGKILL it mid-stream, insert more, restart → every
coin's newest snapshot is predicted by every model, and no prediction row is duplicated."""

from __future__ import annotations

import signal
from pathlib import Path

import asyncpg
import httpx

from tests.support.http import free_port
from tests.support.metrics import coin_rows, insert_metrics
from tests.support.models import TrainedFile
from tests.support.processes import (
    DUPLICATES,
    NEWEST_PREDICTED,
    service_env,
    service_process,
    training_service,
    two_training_models,
    wait_up,
)
from tests.support.wait import eventually


async def test_sigkill_mid_stream_then_restart_loses_nothing(
    db_dsn: str, pool: asyncpg.Pool, tmp_path: Path, trained: dict[str, TrainedFile]
) -> None:
    ids = await two_training_models(pool, trained, "k")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    coins = [f"K{i:02d}" for i in range(20)]
    async with training_service(db_dsn) as training_url:
        env = service_env(
            db_dsn, tmp_path, training_url, BATCH_SIZE="5", BATCH_TIMEOUT_SECONDS="0.5"
        )
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
                newest_done = await pool.fetchval(NEWEST_PREDICTED)
                return pending == 0 and newest_done == len(coins)

            assert await eventually(complete, 30, interval=0.1)
    assert await pool.fetchval(DUPLICATES) == 0
