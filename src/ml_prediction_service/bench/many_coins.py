"""Memory with many coins, end to end (issue 16, part 6; docs/pipeline.md "Memory with many
coins"): the real service with 10 models in this process, and a collector stand-in that writes
``--rows`` rows for each of ``--coins`` coins straight from SQL (``generate_series``: the
simulator cannot produce rows for 100,000 coins fast enough on 2 cores). Every row is a real
event through the trigger, the pipeline and the predictions table; afterwards the JSON reports
the process's RSS before and after and how many coins the history stores hold.

    python -m ml_prediction_service.bench.many_coins --coins 100000 --coin-cache-size 100000
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import resource
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from ml_prediction_service.bench.memory import rss_mb, store_figures
from ml_prediction_service.bench.runner import say, scratch_database, train_models
from ml_prediction_service.config import Settings
from ml_prediction_service.db import collector_repo, events_repo
from ml_prediction_service.db.pool import connect
from ml_prediction_service.db.schema import install_coin_metrics_trigger, migrate
from ml_prediction_service.httpserve import serving
from ml_prediction_service.service import Service
from ml_prediction_service.stand_ins.ddl import create_dev_schema
from ml_prediction_service.stand_ins.training_service import create_app as training_app


async def run(args: argparse.Namespace) -> dict[str, Any]:
    async with scratch_database("mps-many-") as (workdir, dsn):
        conn = await connect(dsn)
        await migrate(conn)
        await create_dev_schema(conn)
        await install_coin_metrics_trigger(conn)
        model_ids = await train_models(conn, workdir / "trained", args.models)
        await conn.close()
        async with serving("training-service stand-in", training_app(dsn)) as training:
            settings = Settings(
                _env_file=None,
                data_dir=workdir,
                training_service_api_url=f"{training.url}/api",
                pipeline_workers=args.workers,
                coin_cache_size=args.coin_cache_size,
                log_level="WARNING",
            )
            service = await Service.start(settings, dsn)
            try:
                for model_id in model_ids:
                    await service.models.import_model(model_id)
                gc.collect()
                before = rss_mb()
                started = time.monotonic()
                inserted = await _collect(service, dsn, args)
                elapsed = time.monotonic() - started
                gc.collect()
                after = rss_mb()
                figures = store_figures([w.cache for w in service.workers])
                processed = service.events_processed
            finally:
                await service.stop()
    grown = round(after - before, 1) if after is not None and before is not None else None
    coins = int(figures["coins_cached"] or 0)
    per_coin = round(grown * 1024 / coins, 2) if grown and coins else None
    return {
        "coins": args.coins,
        "rows_per_coin": args.rows,
        "rows_inserted": inserted,
        "events_processed": processed,
        "seconds": round(elapsed, 1),
        "models": args.models,
        "workers": args.workers,
        "coin_cache_size": args.coin_cache_size,
        "rss_before_mb": before,
        "rss_after_mb": after,
        "rss_growth_mb": grown,
        "rss_growth_kb_per_cached_coin": per_coin,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        **figures,
    }


async def _collect(service: Service, dsn: str, args: argparse.Namespace) -> int:
    """Insert every round's blocks (one statement each, its own transaction), then wait until
    the pipeline has worked off every event (bounded by ``--max-seconds``)."""
    conn = await connect(dsn)
    deadline = time.monotonic() + args.max_seconds
    t0 = datetime.now(UTC) - timedelta(seconds=5 * args.rows)
    inserted = 0
    try:
        for r in range(args.rows):
            at = t0 + timedelta(seconds=5 * r)
            for lo in range(1, args.coins + 1, args.block):
                hi = min(lo + args.block - 1, args.coins)
                await collector_repo.insert_generated_block(conn, lo, hi, at, r)
                inserted += hi - lo + 1
                while (await events_repo.pending(conn, args.max_pending + 1))[0] > args.max_pending:
                    if time.monotonic() > deadline:
                        raise TimeoutError("the pipeline did not keep up within --max-seconds")
                    await asyncio.sleep(0.2)
            say(f"round {r + 1}/{args.rows}: {inserted} rows, RSS {rss_mb()} MB")
        while await events_repo.any_pending(conn):
            if time.monotonic() > deadline:
                raise TimeoutError("events left after --max-seconds")
            await asyncio.sleep(0.2)
    finally:
        await conn.close()
    return inserted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--coins", type=int, default=100_000)
    parser.add_argument("--rows", type=int, default=3, help="rows per coin (3)")
    parser.add_argument("--models", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--coin-cache-size", type=int, default=100_000)
    parser.add_argument("--block", type=int, default=2_000, help="coins per INSERT (2000)")
    parser.add_argument(
        "--max-pending", type=int, default=20_000, help="events waiting before it pauses"
    )
    parser.add_argument("--max-seconds", type=float, default=1_800)
    args = parser.parse_args()
    result = asyncio.run(run(args))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
