"""The stand-ins' commands: ``dev-schema``, ``simulate``, ``train-demo``,
``training-service`` (the stand-ins themselves live in ``stand_ins/``).

The stand-in tables are created automatically only on the embedded database (``DB_DSN``
unset) or by the explicit ``dev-schema`` command - never silently on an external database.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from ml_prediction_service.cli.args import (
    Subparsers,
    add_simulation_arguments,
    add_typed_arguments,
    non_negative_float,
    positive_float,
    positive_int,
    tcp_port,
)
from ml_prediction_service.config import Settings
from ml_prediction_service.db import system_repo
from ml_prediction_service.db.embedded import resolve_dsn
from ml_prediction_service.db.pool import connect
from ml_prediction_service.errors import CommandError
from ml_prediction_service.stand_ins.commands import (
    default_models_dir,
    ensure_tables,
    install_trigger_if_migrated,
)
from ml_prediction_service.stand_ins.ddl import create_dev_schema


async def _open(settings: Settings) -> asyncpg.Connection:
    dsn = resolve_dsn(settings)
    return await connect(dsn, timeout=settings.db_connect_timeout_seconds)


# --- dev-schema ----------------------------------------------------------------------


def cmd_dev_schema(settings: Settings, args: argparse.Namespace) -> int:
    async def run() -> None:
        conn = await _open(settings)
        try:
            created = await create_dev_schema(conn)
            trigger = await install_trigger_if_migrated(conn)
        finally:
            await conn.close()
        print(
            "stand-in tables created: "
            + (
                ", ".join(created)
                if created
                else "none (coin_metrics, ref_coin_phases, ml_models already exist)"
            )
        )
        print(f"coin_metrics trigger: {trigger}")

    asyncio.run(run())
    return 0


# --- simulate ------------------------------------------------------------------------


def cmd_simulate(settings: Settings, args: argparse.Namespace) -> int:
    from ml_prediction_service.stand_ins.collector import CollectorConfig, run_collector
    from ml_prediction_service.stand_ins.simulator import SimConfig
    from ml_prediction_service.stand_ins.stream import SimulationStream

    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
    start = datetime.now(UTC).replace(microsecond=0)
    span = args.launch_span if args.launch_span is not None else args.duration * args.speed
    sim = SimConfig(
        n_coins=args.coins,
        seed=seed,
        start=start,
        launch_span_seconds=span,
        null_fraction=args.null_fraction,
    )
    collector = CollectorConfig(
        duration_seconds=args.duration,
        speed=args.speed,
        rate=args.rate,
        batch_size=args.batch_size,
        progress_interval_seconds=args.progress_interval,
        flush_interval_seconds=args.flush_interval,
        stamp=args.stamp,
    )
    pacing = (
        f"real time x{args.speed:g}"
        if args.rate is None
        else ("as fast as possible" if args.rate == 0 else f"{args.rate:g} rows/s")
    )

    async def run() -> None:
        conn = await _open(settings)
        try:
            created = await ensure_tables(conn, settings, ["coin_metrics"])
            if created:
                print(f"simulate: created stand-in tables {', '.join(created)} (embedded db)")
            print(
                f"simulate: seed={seed} coins={args.coins} start={start.isoformat()} "
                f"duration={args.duration:g}s pacing={pacing} batch={args.batch_size}"
            )
            if args.async_commit:
                await system_repo.commit_asynchronously(conn)
            stats = await run_collector(conn, SimulationStream(sim), collector, progress=print)
        finally:
            await conn.close()
        end = "simulation complete" if stats.simulation_over else "duration reached"
        print(f"simulate: done ({end}): {stats.rows_inserted} rows in {stats.batches} batches")

    asyncio.run(run())
    return 0


# --- train-demo ----------------------------------------------------------------------


def cmd_train_demo(settings: Settings, args: argparse.Namespace) -> int:
    from ml_prediction_service.stand_ins.training import TrainingError, db_history, train_demo_model

    models_dir: Path = args.models_dir or default_models_dir(settings)
    python = _pinned_python(args) if args.pinned else None

    async def run() -> None:
        conn = await _open(settings)
        try:
            needed = ["ml_models", "coin_metrics"] if args.from_db else ["ml_models"]
            await ensure_tables(conn, settings, needed)
            history = await db_history(conn) if args.from_db else None
            result = await train_demo_model(
                conn,
                models_dir,
                args.model_type,
                args.target,
                args.name,
                args.seed,
                n_coins=args.coins,
                history=history,
                python=python,
            )
        except TrainingError as exc:
            raise CommandError(str(exc)) from exc
        except asyncpg.UniqueViolationError as exc:
            raise CommandError(f"model name already taken: {exc}") from exc
        finally:
            await conn.close()
        m = result["metrics"]
        print(
            f"train-demo: model {result['id']} {result['name']!r} READY "
            f"({result['model_type']}, {result['target']}-based, {len(result['features'])} "
            f"features, {result['rows']} rows, {result['positives']} positive)"
        )
        print(
            "train-demo: accuracy={accuracy} f1={f1} precision={precision} recall={recall} "
            "roc_auc={roc_auc}".format(**m)
        )
        print(f"train-demo: file {result['model_file_path']}")
        libraries = result["libraries"]
        print(
            f"train-demo: made by scikit-learn {libraries['scikit-learn']}, xgboost "
            f"{libraries['xgboost']}, pandas {libraries['pandas']} (python {libraries['python']})"
        )

    asyncio.run(run())
    return 0


def _pinned_python(args: argparse.Namespace) -> Path:
    from ml_prediction_service.stand_ins.training_env import PINNED, TrainingEnvError, ensure_env

    print(
        f"train-demo: training environment {' '.join(PINNED)} (reused, or built once: "
        "~1 min, ~800 MB) …",
        flush=True,
    )
    try:
        return ensure_env(PINNED, root=args.training_env_dir)
    except TrainingEnvError as exc:
        raise CommandError(f"cannot build the pinned training environment: {exc}") from exc


# --- training-service ----------------------------------------------------------------


def cmd_training_service(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from ml_prediction_service.stand_ins.training_service import create_app

    dsn = resolve_dsn(settings)

    async def prepare() -> None:
        conn = await connect(dsn, timeout=settings.db_connect_timeout_seconds)
        try:
            await ensure_tables(conn, settings, ["ml_models"])
        finally:
            await conn.close()

    asyncio.run(prepare())
    print(f"training-service stand-in on http://{args.host}:{args.port}/api")
    config = uvicorn.Config(
        create_app(dsn),
        host=args.host,
        port=args.port,
        log_config=None,
        access_log=False,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    server.run()
    return 0 if server.started else 1


# --- registration --------------------------------------------------------------------


def register(subparsers: Subparsers) -> None:
    """Add the stand-in subcommands to the ``ml-prediction-service`` parser."""
    from ml_prediction_service.stand_ins.training_service import DEFAULT_HOST, DEFAULT_PORT

    dev = subparsers.add_parser(
        "dev-schema",
        help="create stand-in coin_metrics/ref_coin_phases/ml_models (development only)",
    )
    dev.set_defaults(handler=cmd_dev_schema)

    sim = subparsers.add_parser(
        "simulate", help="collector stand-in: insert simulated coin life cycles"
    )
    add_simulation_arguments(
        sim,
        coins=(20, "coins to launch (20)"),
        duration=(60.0, "wall-clock seconds (60)"),
        speed=(1.0, "simulated seconds per wall second (1; 60 = one hour per minute)"),
        seed=(None, "random seed (default: random)"),
        rate=(None, "rows per second instead of real-time pacing; 0 = as fast as possible"),
    )
    add_typed_arguments(
        sim,
        batch_size=(positive_int, 500, "max rows per INSERT (500)"),
        flush_interval=(
            non_negative_float,
            0.05,
            "seconds a partial batch may wait before it is inserted (0.05)",
        ),
        launch_span=(
            non_negative_float,
            None,
            "simulated seconds over which coins launch (default: duration x speed)",
        ),
        null_fraction=(non_negative_float, 0.001, "chance that a NUMERIC value is NULL (0.001)"),
        progress_interval=(positive_float, 5.0, "seconds (5)"),
    )
    sim.add_argument(
        "--stamp",
        choices=["placed", "insert"],
        default="placed",
        help="placed: each coin's rows one phase interval apart, its past compressed behind "
        "now (default); insert: every row stamped with the wall-clock time of its insert "
        "(data timestamps follow the wall clock at any rate: the soak run)",
    )
    sim.add_argument(
        "--async-commit",
        action="store_true",
        help="commit without waiting for the WAL flush (synchronous_commit=off), so that a "
        "row is visible as soon as its commit is recorded",
    )
    sim.set_defaults(handler=cmd_simulate)

    train = subparsers.add_parser(
        "train-demo", help="train a demo model like the training service and mark it READY"
    )
    train.add_argument(
        "--model-type", choices=["random_forest", "xgboost"], default="random_forest"
    )
    train.add_argument("--target", choices=["rule", "time"], default="rule")
    train.add_argument("--name", default=None, help="model name (default: generated)")
    add_simulation_arguments(
        train,
        seed=(42, "random seed (42)"),
        coins=(40, "simulated coins to train on (40)"),
    )
    train.add_argument(
        "--from-db", action="store_true", help="train on coin_metrics instead of a simulation"
    )
    train.add_argument(
        "--models-dir",
        type=Path,
        default=None,
        help="where model files go (default: DATA_DIR/training-service/models)",
    )
    train.add_argument(
        "--pinned",
        action="store_true",
        help="train under the training service's pinned versions (scikit-learn 1.3.2, xgboost "
        "2.0.2, pandas 2.1.3, …) in a throw-away environment built on first use",
    )
    train.add_argument(
        "--training-env-dir",
        type=Path,
        default=None,
        help="where pinned environments live (default: ~/.cache/ml-prediction-service/"
        "training-envs)",
    )
    train.set_defaults(handler=cmd_train_demo)

    ts = subparsers.add_parser(
        "training-service", help="run the training-service HTTP stand-in (list/details/download)"
    )
    ts.add_argument("--host", default=DEFAULT_HOST, help=f"bind address ({DEFAULT_HOST})")
    ts.add_argument("--port", type=tcp_port, default=DEFAULT_PORT, help=f"port ({DEFAULT_PORT})")
    ts.set_defaults(handler=cmd_training_service)
