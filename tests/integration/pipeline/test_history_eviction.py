"""Eviction cannot change a feature: with a history store far smaller than the coins it sees,
an evicted coin is read from the database again, and every prediction equals the one from
the coin's whole history (the training reference, no cache at all)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import asyncpg
import pytest

from tests.support.expected import expected_probability
from tests.support.metrics import coin_rows, insert_metrics, newest
from tests.support.models import TrainedFile
from tests.support.wait import eventually
from tests.support.world import count_predictions, import_models, make_world

COINS = 6
ROUNDS = 3


async def test_evicted_coins_are_rebuilt_exactly(
    db_dsn: str,
    pool: asyncpg.Pool,
    training_url: str,
    tmp_path: Path,
    trained: dict[str, TrainedFile],
) -> None:
    async with make_world(
        db_dsn, pool, training_url, tmp_path, coin_cache_size=2, pipeline_workers=1
    ) as world:
        models = await import_models(world, trained)
        (worker,) = world.service.workers
        assert worker.cache.capacity == 2
        rows = {
            f"EVICT{c}": coin_rows(f"EVICT{c}", 12 + 3 * ROUNDS, seed=40 + c) for c in range(COINS)
        }
        await insert_metrics(world.pool, [r for coin in rows.values() for r in coin[:12]])
        # round-robin, one coin per statement: each coin's next rows come after the other
        # coins took both slots, so the coin was evicted and its history is read again
        predicted: list[tuple[str, datetime]] = []
        for r in range(ROUNDS):
            for mint, coin in rows.items():
                new = coin[12 + 3 * r : 15 + 3 * r]
                await insert_metrics(world.pool, new)
                at = newest(new)
                predicted.append((mint, at))

                async def done(mint: str = mint, at: datetime = at) -> bool:
                    n = await count_predictions(
                        world.pool, "coin_id = $1 AND data_timestamp = $2", mint, at
                    )
                    return n == len(models)

                assert await eventually(done), (mint, r)
                assert len(worker.cache) <= 2
                assert mint in worker.cache.slots  # the coin just predicted holds a slot
        # 6 coins through 2 slots: between two visits of a coin the 5 others took the slots
        assert len(worker.cache) == 2

        for model in models:
            loaded = world.service.registry.models[model["id"]].loaded
            assert loaded is not None
            for mint, at in predicted:
                stored = await world.pool.fetchval(
                    "SELECT probability FROM predictions "
                    "WHERE coin_id = $1 AND data_timestamp = $2 AND active_model_id = $3",
                    mint,
                    at,
                    model["id"],
                )
                expected = await expected_probability(
                    world.pool, mint, at, Path(model["local_model_path"]), loaded.input_columns
                )
                assert stored == pytest.approx(round(expected, 4), abs=1e-4), (mint, at)
