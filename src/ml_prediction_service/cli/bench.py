"""``bench`` and ``bench-features`` (kept light: the benchmarks are imported when run)."""

from __future__ import annotations

import argparse
import signal
from collections.abc import Callable

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


def _stopped_by_sigterm_too(run: Callable[[], int]) -> int:
    """SIGTERM stops a benchmark as Ctrl-C does (KeyboardInterrupt), so its own database
    and service processes are stopped and removed, not left running."""
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        return run()
    finally:
        signal.signal(signal.SIGTERM, previous)


def cmd_bench(settings: Settings, args: argparse.Namespace) -> int:
    from ml_prediction_service.bench.runner import main as bench_main

    return _stopped_by_sigterm_too(lambda: bench_main(args))


def cmd_disk_budget(settings: Settings, args: argparse.Namespace) -> int:
    from ml_prediction_service.bench.disk_budget import main as disk_budget_main
    from ml_prediction_service.db.embedded import resolve_dsn

    return disk_budget_main(resolve_dsn(settings), args)


def cmd_soak(settings: Settings, args: argparse.Namespace) -> int:
    from ml_prediction_service.bench.soak import main as soak_main

    return _stopped_by_sigterm_too(lambda: soak_main(args))


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
        coin_cache_size=(
            non_negative_int,
            0,
            "COIN_CACHE_SIZE for the run (0: the setting's default); the JSON's memory "
            "key reports RSS and the coins cached",
        ),
    )
    add_typed_arguments(
        parser,
        sql_profile=(
            non_negative_int,
            0,
            "load pg_stat_statements and report the N statements that took most database "
            "time during the run (sql_profile in the JSON; 0: off)",
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


def add_soak_arguments(parser: argparse.ArgumentParser) -> None:
    add_typed_arguments(
        parser,
        rate=(positive_float, 1000.0, "coin events per second the collector inserts (1000)"),
        minutes=(positive_int, 30, "windows to run and sample (30)"),
        sample_seconds=(
            positive_float,
            60.0,
            "length of one window, a 'minute' of the report (60; shorter for a quick run)",
        ),
        models=(positive_int, 10, "active models, alternately RF and XGB (10: 5 + 5)"),
        coins=(
            non_negative_int,
            0,
            "simulated coins (0: enough for the whole run, rate x seconds / 200)",
        ),
        launch_span=(
            positive_float,
            3600.0,
            "simulated seconds over which the coins launch (3600: new coins keep coming)",
        ),
        partition_interval=(
            str,
            "1 minute",
            "PARTITION_INTERVAL of the run ('1 minute'; at least 10 seconds)",
        ),
        retention_seconds=(
            positive_float,
            180.0,
            "retention of predictions, outbox, delivery log and evaluations in seconds "
            "(180; passed as fractional *_RETENTION_DAYS); must exceed --sample-seconds + "
            "the settle time",
        ),
        keeper_interval=(
            positive_float,
            10.0,
            "PARTITION_KEEPER_INTERVAL_SECONDS of the run (10)",
        ),
        webhook_all_models=(
            non_negative_int,
            1,
            "models whose send mode is 'all'; the others send alerts_only (1)",
        ),
        webhook_delay_ms=(non_negative_float, 1.0, "receiver answer time (1)"),
        webhook_concurrency=(positive_int, 32, "WEBHOOK_CONCURRENCY (32)"),
        batch_size=(positive_int, 500, "service BATCH_SIZE (500)"),
        insert_batch=(positive_int, 200, "collector rows per INSERT statement (200)"),
        workers=(positive_int, 2, "PIPELINE_WORKERS (2)"),
        warmup_minutes=(
            non_negative_int,
            None,
            "windows left out of the RSS growth fit (default: 5, or a third of a shorter run)",
        ),
        report_dir=(str, "soak-report", "where soak.json, soak.html and the logs go (soak-report)"),
        sql_profile=(
            non_negative_int,
            0,
            "load pg_stat_statements and record in every window the N statements that took "
            "most database time in it (sql_profile of each sample; 0: off)",
        ),
    )
    parser.add_argument(
        "--service-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="one more setting of the soak's service (repeatable), e.g. "
        "HEALTH_CHECK_INTERVAL_SECONDS=3600",
    )


def register(subparsers: Subparsers) -> None:
    """Add ``bench`` and ``bench-features``."""
    bench = subparsers.add_parser(
        "bench",
        help="measure throughput and latency (own embedded database; prints JSON last)",
    )
    add_arguments(bench)
    bench.set_defaults(handler=cmd_bench, own_database=True)

    budget = subparsers.add_parser(
        "disk-budget",
        help="bytes per row of every growing table of the service's database, and GB/day at "
        "given rates (JSON; counts every row: run it off-peak on a large database)",
    )
    add_disk_budget_arguments(budget)
    budget.set_defaults(handler=cmd_disk_budget)

    soak = subparsers.add_parser(
        "soak",
        help="run the service for N minutes at a fixed rate with retention dropping "
        "partitions; per-minute series as JSON + HTML report; prints JSON last",
    )
    add_soak_arguments(soak)
    soak.set_defaults(handler=cmd_soak, own_database=True)

    bench_features = subparsers.add_parser(
        "bench-features", help="micro-benchmark of the feature fast path (µs per coin)"
    )
    bench_features.set_defaults(handler=cmd_bench_features)
