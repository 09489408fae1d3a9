"""The real service as a subprocess: SIGKILL it mid-stream, insert more, restart → every
coin's newest snapshot is predicted by every model, and no prediction row is duplicated."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import asyncpg
import httpx
import pytest

from ml_prediction_service.sim.ddl import create_dev_schema
from tests.support.http import free_port
from tests.support.metrics import coin_rows, insert_metrics
from tests.support.models import TrainedFile, insert_ml_model, train_files
from tests.support.processes import service_env, service_process, training_service, wait_up


@pytest.fixture(scope="module")
def trained_here(tmp_path_factory: pytest.TempPathFactory) -> dict[str, TrainedFile]:
    return train_files(tmp_path_factory.mktemp("kill-models"))


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
