"""Two real service processes on one database: every event is processed by exactly one of
them (their event counters add up to the rows inserted, both did work, no prediction twice),
and when one is killed the other finishes everything."""

from __future__ import annotations

import re
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


async def events_processed(url: str) -> int:
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"{url}/metrics", timeout=5)).text
    match = re.search(r"^ml_events_processed_total (\S+)$", text, re.MULTILINE)
    assert match, "ml_events_processed_total missing from /metrics"
    return int(float(match.group(1)))


async def models_ready(url: str) -> bool:
    async with httpx.AsyncClient(headers={"X-API-Key": "k"}) as client:
        items = (await client.get(f"{url}/api/models/active", timeout=5)).json()["models"]
    return len(items) == 2 and all(m["runtime"]["status"] == "loaded" for m in items)


async def test_two_processes_share_events_exactly_once_and_survive_a_kill(
    db_dsn: str, pool: asyncpg.Pool, tmp_path: Path, trained: dict[str, TrainedFile]
) -> None:
    ids = await two_training_models(pool, trained, "r")
    ports = free_port(), free_port()
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    coins = [f"P{i:02d}" for i in range(30)]
    async with training_service(db_dsn) as training_url:
        env = service_env(
            db_dsn, tmp_path, training_url, BATCH_SIZE="7", BATCH_TIMEOUT_SECONDS="0.5"
        )
        with (
            service_process(env, tmp_path, ports[0]) as first,
            service_process(env, tmp_path, ports[1]) as second,
        ):
            await wait_up(urls[0])
            await wait_up(urls[1])
            async with httpx.AsyncClient(base_url=urls[0], headers={"X-API-Key": "k"}) as api:
                for model_id in ids:
                    response = await api.post("/api/models/import", json={"model_id": model_id})
                    assert response.status_code == 201, response.text
            for url in urls:  # the second learns about the models from the database
                assert await eventually(lambda url=url: models_ready(url), 30, interval=0.1), url

            history = [r for i, c in enumerate(coins) for r in coin_rows(c, 6, seed=i)]
            await insert_metrics(pool, history)
            for step in range(7, 10):  # single-row statements, as a live collector writes
                for i, coin in enumerate(coins):
                    await insert_metrics(pool, [coin_rows(coin, step, seed=i)[-1]])
            inserted = len(history) + 3 * len(coins)

            async def all_counted() -> bool:
                pending = await pool.fetchval("SELECT count(*) FROM prediction_events")
                counts = [await events_processed(u) for u in urls]
                return pending == 0 and sum(counts) == inserted

            assert await eventually(all_counted, 30, interval=0.1)
            counts = [await events_processed(u) for u in urls]
            assert sum(counts) == inserted  # none twice, none missed
            assert min(counts) > 0, counts  # both replicas did part of the work
            assert await pool.fetchval(NEWEST_PREDICTED) == len(coins)
            assert await pool.fetchval(DUPLICATES) == 0

            second.send_signal(signal.SIGKILL)
            second.wait(timeout=30)
            for step in range(10, 13):
                await insert_metrics(
                    pool, [coin_rows(c, step, seed=i)[-1] for i, c in enumerate(coins)]
                )

            async def finished_by_the_survivor() -> bool:
                pending = await pool.fetchval("SELECT count(*) FROM prediction_events")
                return pending == 0 and await pool.fetchval(NEWEST_PREDICTED) == len(coins)

            assert await eventually(finished_by_the_survivor, 30, interval=0.1)
            assert first.poll() is None
            assert await events_processed(urls[0]) == counts[0] + 3 * len(coins)
    assert await pool.fetchval(DUPLICATES) == 0
