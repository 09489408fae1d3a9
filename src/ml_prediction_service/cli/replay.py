"""``replay``: run a model over stored coin_metrics history here, on the database directly
(like ``migrate``), with a progress bar on stderr and the statistics JSON on stdout."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from ml_prediction_service.cli.args import Subparsers, positive_float, positive_int
from ml_prediction_service.config import Settings
from ml_prediction_service.errors import CommandError

BAR_WIDTH = 30


def parse_time(text: str) -> datetime:
    """An ISO 8601 time (no offset: UTC) for ``--start`` / ``--end``."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"not an ISO 8601 time: {text!r} (e.g. 2026-11-01T12:00:00Z)"
        ) from exc
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


class ProgressBar:
    """``[#####.....]  50%  1,200/2,400 rows  3/6 coins`` on ``stream``: redrawn in place on
    a terminal, one line per update otherwise (a log file, a pipe)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.last = ""

    def update(self, rows_done: int, rows_total: int, coins_done: int, coins_total: int) -> None:
        fraction = min(1.0, rows_done / rows_total) if rows_total else 1.0
        filled = round(fraction * BAR_WIDTH)
        line = (
            f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {fraction:4.0%}  "
            f"{rows_done:,}/{rows_total:,} rows  {coins_done}/{coins_total} coins"
        )
        if line == self.last:
            return
        self.last = line
        self.stream.write(f"\r{line}" if self.tty else f"{line}\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self.last:
            self.stream.write("\n")
            self.stream.flush()


async def replay(settings: Settings, dsn: str, args: argparse.Namespace) -> dict[str, Any]:
    """Prepare and run the replay here; its row when it ended."""
    from ml_prediction_service.db.pool import create_pool
    from ml_prediction_service.errors import ServiceError
    from ml_prediction_service.evaluation.replay import Progress
    from ml_prediction_service.evaluation.replays import ReplayManager
    from ml_prediction_service.models.registry import ModelRegistry
    from ml_prediction_service.observability.metrics import Metrics

    end = args.end or datetime.now(UTC)
    start = args.start or end - timedelta(hours=args.hours)
    pool = await create_pool(
        dsn, min_size=1, max_size=2, connect_timeout=settings.db_connect_timeout_seconds
    )
    try:
        registry = ModelRegistry(pool, Metrics(), cache_size=1, use_onnx=settings.model_use_onnx)
        manager = ReplayManager(pool, dsn, settings, registry)
        try:
            await manager.recover()
            prepared = await manager.prepare(args.model_id, start, end, args.max_rows)
        except ServiceError as exc:
            raise CommandError(exc.message) from exc
        row = prepared.replay
        print(
            f"replay {row['id']} of model {args.model_id} ({prepared.model.name}): "
            f"{start.isoformat()} .. {end.isoformat()}, {prepared.plan.total_rows:,} rows of "
            f"{len(prepared.plan.mints)} coins",
            file=sys.stderr,
        )
        bar = ProgressBar(sys.stderr)
        bar.update(0, prepared.plan.total_rows, 0, len(prepared.plan.mints))

        def show(p: Progress) -> None:
            bar.update(p.rows_done, p.rows_total, p.coins_done, p.coins_total)

        try:
            await manager.run(prepared, on_progress=show)
        finally:
            bar.close()
            await manager.stop()
        return await manager.get(int(row["id"]))
    finally:
        await pool.close()


def cmd_replay(settings: Settings, args: argparse.Namespace) -> int:
    from ml_prediction_service.db.embedded import resolve_dsn

    if args.start is not None and args.hours is not None:
        raise CommandError("give --start or --hours, not both")
    if args.start is None and args.hours is None:
        args.hours = 24.0
    row = asyncio.run(replay(settings, resolve_dsn(settings), args))
    if row["status"] != "done":
        raise CommandError(f"replay {row['id']} {row['status']}: {row['error']}")
    if row["error"]:
        print(f"note: {row['error']}", file=sys.stderr)
    print(json.dumps(row["statistics"], indent=2, sort_keys=True, default=str))
    return 0


def register(subparsers: Subparsers) -> None:
    """Add ``replay``."""
    cmd = subparsers.add_parser(
        "replay",
        help="run a model over stored coin_metrics history (nothing stored in predictions, "
        "nothing sent) and print its statistics as if it had been live",
        description="Replays an imported model (active or not) over the coin_metrics rows of "
        "a time range with the live pipeline's features and the outcome rule, stores the "
        "replayed predictions and outcomes in prediction_replay_evaluations, shows a progress "
        "bar on stderr and prints the statistics JSON on stdout (docs/evaluation.md). Exit "
        "code 1 when it fails (REPLAY_MAX_ROWS, REPLAY_MAX_SECONDS, an unknown model, ...).",
    )
    cmd.add_argument("model_id", type=positive_int, help="the imported model's id (active id)")
    cmd.add_argument("--start", type=parse_time, help="first time replayed (ISO 8601; UTC)")
    cmd.add_argument("--end", type=parse_time, help="last time replayed (default: now)")
    cmd.add_argument(
        "--hours", type=positive_float, help="instead of --start: the hours before --end (24)"
    )
    cmd.add_argument(
        "--max-rows", type=positive_int, help="refuse a range with more rows (REPLAY_MAX_ROWS)"
    )
    cmd.set_defaults(handler=cmd_replay)
