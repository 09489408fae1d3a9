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
from ml_prediction_service.db import events_repo
from ml_prediction_service.db.pool import connect
from ml_prediction_service.db.schema import install_coin_metrics_trigger, migrate
from ml_prediction_service.httpserve import serving
from ml_prediction_service.service import Service
from ml_prediction_service.stand_ins.ddl import create_dev_schema
from ml_prediction_service.stand_ins.training_service import create_app as training_app

# One block of coins' rows at one timestamp: coin g of the block is 'MANY' + its number; the
# values are plausible for a young pump.fun coin and differ per coin and round ($4).
INSERT_BLOCK = """
INSERT INTO coin_metrics (
    mint, "timestamp", phase_id_at_time, price_open, price_high, price_low, price_close,
    market_cap_close, bonding_curve_pct, virtual_sol_reserves, is_koth, volume_sol,
    buy_volume_sol, sell_volume_sol, num_buys, num_sells, unique_wallets, num_micro_trades,
    dev_sold_amount, max_single_buy_sol, max_single_sell_sol, net_volume_sol, volatility_pct,
    avg_trade_size_sol, whale_buy_volume_sol, whale_sell_volume_sol, num_whale_buys,
    num_whale_sells, buy_pressure_ratio, unique_signer_ratio)
SELECT 'MANY' || lpad(g::text, 7, '0'), $3::timestamptz, 1,
       p * 0.99, p * 1.02, p * 0.97, p, p * 1e9, 5 + (g % 90), 30 + (g % 50), false,
       v, v * 0.6, v * 0.4, 3 + g % 20, 2 + g % 15, 4 + g % 30, g % 5, 0,
       v * 0.2, v * 0.1, v * 0.2, 1 + (g % 40) / 4.0, v / 10, v * 0.1, v * 0.05, g % 3, g % 2,
       0.6, 0.8
  FROM generate_series($1::int, $2::int) AS g,
       LATERAL (SELECT 2.8e-8 * (1 + (g % 97) / 100.0) * (1 + $4::int / 50.0) AS p,
                       0.5 + (g % 13) AS v) x
"""


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
                await conn.execute(INSERT_BLOCK, lo, hi, at, r)
                inserted += hi - lo + 1
                while (await events_repo.pending(conn))[0] > args.max_pending:
                    if time.monotonic() > deadline:
                        raise TimeoutError("the pipeline did not keep up within --max-seconds")
                    await asyncio.sleep(0.2)
            say(f"round {r + 1}/{args.rows}: {inserted} rows, RSS {rss_mb()} MB")
        while (await events_repo.pending(conn))[0] > 0:
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
