"""``bench`` and ``bench-features`` (kept light: the benchmarks are imported when run)."""

from __future__ import annotations

import argparse

from ml_prediction_service.cli.args import (
    Subparsers,
    add_simulation_arguments,
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
    parser.add_argument(
        "--models", type=positive_int, default=10, help="active models (10: 5 RF + 5 XGB)"
    )
    add_simulation_arguments(
        parser,
        coins=(1000, "simulated coins (1000)"),
        duration=(30.0, "collector seconds (30)"),
        rate=(0.0, "rows per second inserted; 0 = as fast as possible (0)"),
    )
    parser.add_argument(
        "--batch-size", type=positive_int, default=500, help="service BATCH_SIZE for the run (500)"
    )
    parser.add_argument(
        "--insert-batch",
        type=positive_int,
        default=200,
        help="collector rows per INSERT statement (200)",
    )
    parser.add_argument(
        "--naive-seconds",
        type=positive_float,
        default=10.0,
        help="how long the naive path runs (10)",
    )
    parser.add_argument(
        "--workers", type=positive_int, default=2, help="PIPELINE_WORKERS for the run (2)"
    )
    hooks = parser.add_argument_group("webhook mode (a local n8n stand-in on 127.0.0.1)")
    hooks.add_argument(
        "--webhooks",
        choices=["off", "all", "alerts_only"],
        default="off",
        help="send every model's predictions with this send mode (off: no webhooks, and "
        "the naive path is measured instead)",
    )
    hooks.add_argument(
        "--webhook-delay-ms", type=non_negative_float, default=1.0, help="receiver answer time (1)"
    )
    hooks.add_argument(
        "--webhook-fail-every",
        type=non_negative_int,
        default=0,
        help="the receiver answers 503 to every Nth request (0: never)",
    )
    hooks.add_argument(
        "--webhook-outage-s",
        type=non_negative_float,
        default=0.0,
        help="stop the receiver this long, a third into the run (0: no outage)",
    )
    hooks.add_argument(
        "--webhook-concurrency",
        type=positive_int,
        default=32,
        help="WEBHOOK_CONCURRENCY for the run (32)",
    )
    hooks.add_argument(
        "--webhook-drain",
        type=non_negative_int,
        default=0,
        help="before the run, queue this many deliveries (every model's prediction, distinct "
        "coins) and time how fast the sender drains them: webhook_drain in the JSON (0: skip)",
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
