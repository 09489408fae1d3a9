"""The real command as a subprocess, the way the README tells people to run it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.support.http import free_port
from tests.support.wait import eventually_sync


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "API_", "LOG_"))}
    env.update({"DATA_DIR": str(tmp_path / "data"), "HOME": str(tmp_path)}, **extra)
    return env


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "ml_prediction_service", *args]


def test_serve_on_the_embedded_default_then_stop_cleanly(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        _cli("serve", "--port", str(port)),
        env=_env(tmp_path),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:

        def health() -> object:
            if proc.poll() is not None:
                return "exited"
            return httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).json()

        body = eventually_sync(health, 60, interval=0.2, ignore=(httpx.HTTPError,))
        assert isinstance(body, dict), "API did not come up"
        assert body["db_connected"] is True
        # no collector tables in a fresh embedded database: degraded, with the reason
        assert body["status"] == "degraded"
        assert (tmp_path / "data" / "pgdata" / "PG_VERSION").exists()
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "embedded PostgreSQL ready at postgresql://" in out
    assert "Traceback" not in out
    # this process started the embedded server, so it stopped it on exit
    assert not (tmp_path / "data" / "pgdata" / "postmaster.pid").exists()


def test_migrate_and_db_url_with_an_external_dsn(db_dsn: str, tmp_path: Path) -> None:
    env = _env(tmp_path, DB_DSN=db_dsn)
    migrate = subprocess.run(
        _cli("migrate"),
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert migrate.returncode == 0, migrate.stderr
    assert "migrations applied: none (up to date)" in migrate.stdout
    assert "coin_metrics trigger: not installed: table coin_metrics does not exist" in (
        migrate.stdout
    )
    url = subprocess.run(
        _cli("db-url"),
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert url.stdout.strip() == db_dsn
    # with DB_DSN set, no embedded server is ever started
    assert not (tmp_path / "data" / "pgdata").exists()


def test_db_url_starts_embedded_and_db_stop_stops_it(tmp_path: Path) -> None:
    env = _env(tmp_path)
    url = subprocess.run(
        _cli("db-url"),
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    try:
        assert url.returncode == 0, url.stderr
        dsn = url.stdout.strip()
        assert dsn.startswith("postgresql://")
        # still running after db-url exited, so people can connect
        assert (tmp_path / "data" / "pgdata" / "postmaster.pid").exists()
        again = subprocess.run(
            _cli("db-url"),
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert again.stdout.strip() == dsn  # reused, same server
    finally:
        stop = subprocess.run(
            _cli("db-stop"),
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert "stopped" in stop.stdout
    assert not (tmp_path / "data" / "pgdata" / "postmaster.pid").exists()
