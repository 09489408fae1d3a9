"""The service's own commands: ``serve``, ``migrate``, ``db-url``, ``db-stop``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging

from ml_prediction_service.cli.args import Subparsers, tcp_port
from ml_prediction_service.config import Settings
from ml_prediction_service.db.embedded import resolve_dsn, stop_embedded
from ml_prediction_service.errors import CommandError

logger = logging.getLogger("ml_prediction_service.cli")


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from ml_prediction_service.api.app import create_app
    from ml_prediction_service.cli.serving import ApiServer
    from ml_prediction_service.cli.with_ui import own_api_url, ui_beside
    from ml_prediction_service.httpserve import PortInUse, bind, http_url, port_of

    host = args.host or settings.api_host
    port = args.port or settings.api_port
    try:
        sock = bind(host, port, "REST API", "API_PORT or --port", listen=False)
    except PortInUse as exc:
        raise CommandError(str(exc)) from exc
    url = http_url(host, port_of(sock))
    try:
        app = create_app(settings, resolve_dsn(settings))
        # The lifespan (the service: pool, migrations, pipeline) runs here, around uvicorn, so
        # that a database that cannot be used ends start-up with its one-line error before
        # anything listens; uvicorn then runs without a lifespan of its own.
        config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off")
        server = ApiServer(config, url)

        ui_failed: list[int] = []  # the UI's exit code, if it ended by itself (--with-ui)

        async def run() -> None:
            server.starting = asyncio.current_task()
            with server.capture_signals():
                async with app.router.lifespan_context(app):
                    if server.should_exit:
                        return
                    # the UI starts once the service is up, and stops before it stops
                    ui = (
                        ui_beside(server, settings, own_api_url(host, port_of(sock)), ui_failed)
                        if args.with_ui
                        else contextlib.nullcontext()
                    )
                    with ui:
                        await server.serve(sockets=[sock])

        try:
            asyncio.run(run())
        except asyncio.CancelledError:
            logger.info("stopped during start-up")
    finally:
        sock.close()
    if ui_failed:
        return 1
    return 0 if server.started or server.should_exit else 1


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from ml_prediction_service.db.partitions import INLINE_MAX_BYTES
    from ml_prediction_service.db.pool import connect_at_startup
    from ml_prediction_service.db.schema import install_coin_metrics_trigger, migrate

    dsn = resolve_dsn(settings)

    async def run() -> None:
        conn = await connect_at_startup(dsn, connect_timeout=settings.db_connect_timeout_seconds)
        try:
            applied = await migrate(
                conn,
                partition_interval=settings.partition_interval,
                partitions_ahead=settings.partitions_ahead,
                partition_max_bytes=None if args.partition else INLINE_MAX_BYTES,
            )
            trigger = await install_coin_metrics_trigger(conn)
        finally:
            await conn.close()
        print(f"migrations applied: {', '.join(applied) if applied else 'none (up to date)'}")
        if trigger.installed:
            print(f"coin_metrics trigger: installed ({trigger.mode}-level)")
        else:
            print(f"coin_metrics trigger: not installed: {trigger.reason}")

    asyncio.run(run())
    return 0


def cmd_db_url(settings: Settings, args: argparse.Namespace) -> int:
    print(resolve_dsn(settings, keep=True))
    return 0


def cmd_db_stop(settings: Settings, args: argparse.Namespace) -> int:
    if settings.db_dsn:
        raise CommandError("DB_DSN is set: this service does not manage that database")
    stopped = stop_embedded(settings.data_dir)
    print("embedded PostgreSQL stopped" if stopped else "embedded PostgreSQL was not running")
    return 0


def register(subparsers: Subparsers) -> None:
    """Add ``serve``, ``migrate``, ``db-url`` and ``db-stop``."""
    serve = subparsers.add_parser("serve", help="run the REST API and the prediction service")
    serve.add_argument("--host", help="bind address (default: API_HOST, 127.0.0.1)")
    serve.add_argument("--port", type=tcp_port, help="port (default: API_PORT, 8000)")
    serve.add_argument(
        "--with-ui",
        action="store_true",
        help="also run the web UI (on UI_HOST:UI_PORT) as a supervised child: if it exits, "
        "the API stops too and the command exits 1; SIGINT/SIGTERM stop both",
    )
    serve.set_defaults(handler=cmd_serve)

    migrate = subparsers.add_parser("migrate", help="apply the schema and install the trigger")
    migrate.add_argument(
        "--partition",
        action="store_true",
        help="also convert growing tables of any size to partitioned ones, live "
        "(CONCURRENTLY index builds; docs/retention.md). Without it only tables up to 256 MB "
        "are converted",
    )
    migrate.set_defaults(handler=cmd_migrate)

    db_url = subparsers.add_parser(
        "db-url",
        help="print the database DSN in use (starts the embedded server if needed and leaves "
        "it running until db-stop)",
    )
    db_url.set_defaults(handler=cmd_db_url)

    db_stop = subparsers.add_parser("db-stop", help="stop the embedded PostgreSQL of DATA_DIR")
    db_stop.set_defaults(handler=cmd_db_stop)
