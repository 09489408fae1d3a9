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
        alert_reasons=(
            non_negative_int,
            3,
            "service ALERT_REASONS for the run: features named per alert (3; 0: off)",
        ),
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


def register(subparsers: Subparsers) -> None:
    """Add ``bench`` and ``bench-features``."""
    bench = subparsers.add_parser(
        "bench",
        help="measure throughput and latency (own embedded database; prints JSON last)",
    )
    add_arguments(bench)
    bench.set_defaults(handler=cmd_bench)

    bench_features = subparsers.add_parser(
        "bench-features", help="micro-benchmark of the feature fast path (µs per coin)"
    )
    bench_features.set_defaults(handler=cmd_bench_features)
