"""``bench`` and ``bench-features`` (kept light: the benchmarks are imported when run)."""

from __future__ import annotations

import argparse

from ml_prediction_service.cli.args import (
    Subparsers,
    add_simulation_arguments,
    add_typed_arguments,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
)
from ml_prediction_service.config import Settings


def cmd_bench(settings: Settings, args: argparse.Namespace) -> int:
    from ml_prediction_service.bench.runner import main as bench_main

    return bench_main(args)


def cmd_disk_budget(settings: Settings, args: argparse.Namespace) -> int:
    from ml_prediction_service.bench.disk_budget import main as disk_budget_main
    from ml_prediction_service.db.embedded import resolve_dsn

    return disk_budget_main(resolve_dsn(settings), args)


def cmd_bench_features(settings: Settings, args: argparse.Namespace) -> int:
    from ml_prediction_service.features.bench import main as features_bench

    return int(features_bench([]))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_typed_arguments(parser, models=(positive_int, 10, "active models (10: 5 RF + 5 XGB)"))
    add_simulation_arguments(
        parser,
        coins=(1000, "simulated coins (1000)"),
        duration=(30.0, "collector seconds (30)"),
        rate=(0.0, "rows per second inserted; 0 = as fast as possible (0)"),
    )
    add_typed_arguments(
        parser,
        batch_size=(positive_int, 500, "service BATCH_SIZE for the run (500)"),
        insert_batch=(positive_int, 200, "collector rows per INSERT statement (200)"),
        naive_seconds=(positive_float, 10.0, "how long the naive path runs (10)"),
        workers=(positive_int, 2, "PIPELINE_WORKERS for the run (2)"),
        coin_cache_size=(
            non_negative_int,
            0,
            "COIN_CACHE_SIZE for the run (0: the setting's default); the JSON's memory "
            "key reports RSS and the coins cached",
        ),
    )
    parser.add_argument(
        "--disk-budget",
        action="store_true",
        help="after the run, measure bytes per row of every growing table (disk_budget in "
        "the JSON; docs/disk-budget.md)",
    )
    hooks = parser.add_argument_group("webhook mode (a local n8n stand-in on 127.0.0.1)")
    hooks.add_argument(
        "--webhooks",
        choices=["off", "all", "alerts_only"],
        default="off",
        help="send every model's predictions with this send mode (off: no webhooks, and "
        "the naive path is measured instead)",
    )
    add_typed_arguments(
        hooks,
        webhook_delay_ms=(non_negative_float, 1.0, "receiver answer time (1)"),
        webhook_fail_every=(
            non_negative_int,
            0,
            "the receiver answers 503 to every Nth request (0: never)",
        ),
        webhook_outage_s=(
            non_negative_float,
            0.0,
            "stop the receiver this long, a third into the run (0: no outage)",
        ),
        webhook_concurrency=(positive_int, 32, "WEBHOOK_CONCURRENCY for the run (32)"),
        webhook_drain=(
            non_negative_int,
            0,
            "before the run, queue this many deliveries (every model's prediction, distinct "
            "coins) and time how fast the sender drains them: webhook_drain in the JSON (0: skip)",
        ),
    )


def add_disk_budget_arguments(parser: argparse.ArgumentParser) -> None:
    from ml_prediction_service.bench.disk_budget import parse_rates

    parser.add_argument(
        "--rates",
        type=parse_rates,
        default=[100.0, 500.0, 2000.0],
        help="coin events per second to project, comma-separated (100,500,2000)",
    )
    add_typed_arguments(
        parser,
        models=(non_negative_float, 10.0, "prediction rows per event: active models (10)"),
        horizon_models=(
            non_negative_float,
            4.0,
            "evaluation rows per event: active models with a horizon (4)",
        ),
        outbox_per_event=(
            non_negative_float,
            1.0,
            "deliveries per event per webhook URL: 1 with send mode all, the share of events "
            "with an alert with alerts_only, 0 without webhooks (1)",
        ),
        attempts_per_delivery=(
            non_negative_float,
            1.0,
            "delivery log rows per delivery (1 without retries)",
        ),
    )


def register(subparsers: Subparsers) -> None:
    """Add ``bench`` and ``bench-features``."""
    bench = subparsers.add_parser(
        "bench",
        help="measure throughput and latency (own embedded database; prints JSON last)",
    )
    add_arguments(bench)
    bench.set_defaults(handler=cmd_bench)

    budget = subparsers.add_parser(
        "disk-budget",
        help="bytes per row of every growing table of the service's database, and GB/day at "
        "given rates (JSON; counts every row: run it off-peak on a large database)",
    )
    add_disk_budget_arguments(budget)
    budget.set_defaults(handler=cmd_disk_budget)

    bench_features = subparsers.add_parser(
        "bench-features", help="micro-benchmark of the feature fast path (µs per coin)"
    )
    bench_features.set_defaults(handler=cmd_bench_features)
