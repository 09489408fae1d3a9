"""``ml-prediction-service demo``: its arguments and handler (the demo is ``demo/``)."""

from __future__ import annotations

import argparse
import asyncio
import signal

from ml_prediction_service.cli.args import (
    Subparsers,
    add_simulation_arguments,
    add_typed_arguments,
    positive_float,
    tcp_port,
)
from ml_prediction_service.config import Settings
from ml_prediction_service.db.embedded import resolve_dsn
from ml_prediction_service.errors import CommandError
from ml_prediction_service.observability.logging import setup_logging


def _say(line: str) -> None:
    print(line, flush=True)


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from ml_prediction_service.demo.api_setup import DemoSetupError
    from ml_prediction_service.demo.runner import Demo, DemoOptions
    from ml_prediction_service.demo.servers import PortInUse
    from ml_prediction_service.stand_ins.training import TrainingError

    options = DemoOptions(
        coins=args.coins,
        speed=args.speed,
        duration=args.duration,
        ui=not args.no_ui,
        training_port=args.training_port,
        webhook_port=args.webhook_port,
        seed=args.seed,
        status_interval=args.status_interval,
        pinned_training=not args.no_pinned_training,
    )
    if "log_level" not in settings.model_fields_set:
        # The demo prints its own progress; the service's INFO lines (one per request)
        # would drown it. LOG_LEVEL=INFO brings them back.
        setup_logging("WARNING", settings.log_format, settings.log_json_indent)
    where = "DB_DSN" if settings.db_dsn else f"embedded PostgreSQL in {settings.data_dir}"
    _say(f"demo: starting the database ({where}) …")
    # SIGTERM stops the demo exactly as Ctrl-C does: before and after the event loop's own
    # handlers (Demo.run) it raises KeyboardInterrupt, so every started part is stopped.
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        dsn = resolve_dsn(settings)
        return asyncio.run(Demo(settings, dsn, options, _say).run())
    except CommandError:
        raise
    except (PortInUse, DemoSetupError, TrainingError) as exc:
        raise CommandError(str(exc)) from exc
    except RuntimeError as exc:
        raise CommandError(f"demo failed: {exc}") from exc
    finally:
        signal.signal(signal.SIGTERM, previous)


def register(subparsers: Subparsers) -> None:
    """Add ``demo`` to the ``ml-prediction-service`` parser."""
    demo = subparsers.add_parser(
        "demo",
        help="the whole system locally: database, demo models, API, simulator, UI",
        description="Start everything on 127.0.0.1 with demo data; Ctrl-C stops it. "
        "Honours API_PORT, UI_PORT, DATA_DIR, API_KEY and DB_DSN.",
    )
    add_simulation_arguments(
        demo,
        coins=(25, "coins per generation (25)"),
        speed=(60.0, "simulated seconds per second (60)"),
        duration=(None, "stop after this many seconds of running (default: until Ctrl-C)"),
    )
    demo.add_argument("--no-ui", action="store_true", help="do not start the web UI")
    demo.add_argument(
        "--no-pinned-training",
        action="store_true",
        help="train the demo models with this interpreter's libraries instead of the training "
        "service's pinned versions (which need a one-time ~1 min, ~800 MB environment)",
    )
    add_typed_arguments(
        demo,
        training_port=(tcp_port, 8001, "training-service stand-in port (8001)"),
        webhook_port=(tcp_port, 0, "webhook receiver port (default: any free)"),
    )
    add_simulation_arguments(demo, seed=(None, "simulation seed (default: random)"))
    add_typed_arguments(
        demo, status_interval=(positive_float, 15.0, "seconds between status lines (15)")
    )
    demo.set_defaults(handler=cmd_demo)
