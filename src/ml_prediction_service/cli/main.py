"""The ``ml-prediction-service`` parser and ``main``. Every command group is a module of this
package with a ``register(subparsers)``; each subcommand builds the settings once."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from ml_prediction_service import __version__
from ml_prediction_service.cli import bench, demo, replay, service, stand_ins, ui
from ml_prediction_service.config import Settings, SettingsError, load_settings
from ml_prediction_service.errors import CommandError
from ml_prediction_service.observability.logging import setup_logging

PROG = "ml-prediction-service"

logger = logging.getLogger("ml_prediction_service.cli")

Handler = Callable[[Settings, argparse.Namespace], int]

GROUPS = (service, replay, stand_ins, bench, ui, demo)
"""The command groups, in the order ``--help`` lists them."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Real-time ML predictions for coin_metrics (see README.md).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        group.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    setup_logging(settings.log_level, settings.log_format, settings.log_json_indent)
    handler: Handler = args.handler
    try:
        return handler(settings, args)
    except CommandError as exc:
        return fail(str(exc))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        from ml_prediction_service.db.startup import explain, is_database_error

        if not is_database_error(exc):
            raise
        if getattr(args, "own_database", False):
            return fail(own_database_failure(exc))
        where = settings.db_dsn or f"the embedded PostgreSQL in {settings.data_dir / 'pgdata'}"
        return fail(explain(exc, where))


def own_database_failure(exc: BaseException) -> str:
    """A database error of a command that runs its own scratch database (bench, soak): the
    advice about DB_DSN and DATA_DIR would point at a database it never used."""
    return (
        f"the command's own scratch database failed ({type(exc).__name__}: {exc}); it does "
        "not use DB_DSN or DATA_DIR: see the log lines above (the soak also writes "
        "service.log into --report-dir)"
    )


def fail(message: str) -> int:
    """Report a command's failure as one line on stderr (the traceback only at DEBUG)."""
    logger.debug("the failure in full", exc_info=True)
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return 1
