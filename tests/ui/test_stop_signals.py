"""SIGTERM (``docker stop``) stops the Streamlit child exactly as SIGINT (Ctrl-C) does, for
``ui``, ``serve --with-ui`` and ``demo``; and ``serve --with-ui`` supervises its UI.

The signal goes to the command's process only (as Docker sends it to PID 1), never to the
whole process group: the command itself must stop its children."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import psutil
import pytest

from tests.support.http import free_port
from tests.support.processes import descendants, port_free, service_env, still_running
from tests.support.wait import eventually_sync
from tests.ui.test_demo import DemoProcess, demo_env


def start(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "ml_prediction_service", *args],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def answers(
    proc: subprocess.Popen[str], url: str, seconds: float = 90, any_status: bool = False
) -> None:
    """Until ``url`` answers 200 (or, with ``any_status``, answers HTTP at all)."""

    def ok() -> bool:
        assert proc.poll() is None, proc.communicate()[0]
        status = httpx.get(url, timeout=2).status_code
        return any_status or status == 200

    assert eventually_sync(ok, seconds, interval=0.25, ignore=(httpx.HTTPError,)), url


def streamlit_children(pid: int) -> list[psutil.Process]:
    found = [p for p in descendants(pid) if "streamlit" in " ".join(p.cmdline())]
    assert found, f"no Streamlit process below {pid}"
    return found


def finish(proc: subprocess.Popen[str], seconds: float = 60) -> tuple[int, str]:
    try:
        out, _ = proc.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"did not stop within {seconds}s:\n{out}")
    return proc.returncode, out


def cleanup(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_ui_command_stops_streamlit_on(sig: signal.Signals, tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "API_URL": "http://127.0.0.1:9"}
    proc = start(["ui", "--port", str(port)], env, tmp_path)
    try:
        answers(proc, f"http://127.0.0.1:{port}/_stcore/health")
        children = streamlit_children(proc.pid)
        proc.send_signal(sig)
        code, out = finish(proc)
    finally:
        cleanup(proc)
    assert code == 0, out
    assert still_running(children, 10) == [], out
    assert port_free(port)


def _serve_with_ui(db_dsn: str, tmp_path: Path) -> tuple[subprocess.Popen[str], int, int]:
    """``serve --with-ui`` on free ports, once both the API and the UI answer."""
    api_port, ui_port = free_port(), free_port()
    env = service_env(
        db_dsn,
        tmp_path / "data",
        "http://127.0.0.1:9/api",
        UI_HOST="127.0.0.1",
        UI_PORT=str(ui_port),
    )
    proc = start(["serve", "--with-ui", "--port", str(api_port)], env, tmp_path)
    try:
        answers(proc, f"http://127.0.0.1:{api_port}/api/health", any_status=True)
        answers(proc, f"http://127.0.0.1:{ui_port}/_stcore/health")
    except BaseException:
        cleanup(proc)
        raise
    return proc, api_port, ui_port


def test_serve_with_ui_runs_both_and_sigterm_stops_both(db_dsn: str, tmp_path: Path) -> None:
    proc, api_port, ui_port = _serve_with_ui(db_dsn, tmp_path)
    try:
        assert httpx.get(f"http://127.0.0.1:{ui_port}/", timeout=5).status_code == 200
        children = streamlit_children(proc.pid)
        proc.send_signal(signal.SIGTERM)
        code, out = finish(proc)
    finally:
        cleanup(proc)
    assert code == 0, out
    assert still_running(children, 10) == [], out
    assert port_free(api_port) and port_free(ui_port)


def test_serve_with_ui_exits_1_when_the_ui_dies(db_dsn: str, tmp_path: Path) -> None:
    proc, api_port, _ui = _serve_with_ui(db_dsn, tmp_path)
    try:
        for child in streamlit_children(proc.pid):
            child.kill()
        code, out = finish(proc)
    finally:
        cleanup(proc)
    assert code == 1, out
    assert "the web UI exited" in out
    assert port_free(api_port)


@pytest.mark.slow
def test_demo_sigterm_stops_every_part(tmp_path: Path) -> None:
    data = tmp_path / "data"
    api_port, ui_port, training_port = free_port(), free_port(), free_port()
    env = demo_env(data, api_port, ui_port)
    demo = DemoProcess(
        ["--coins", "10", "--training-port", str(training_port), "--no-pinned-training"],
        env,
        tmp_path,
    )
    try:
        demo.wait_for_line("demo is running", 240)
        children = streamlit_children(demo.proc.pid)
        demo.proc.send_signal(signal.SIGTERM)
        assert demo.finish(60) == 0, demo.output
    finally:
        if demo.proc.poll() is None:
            demo.proc.kill()
            demo.proc.wait()
    assert "demo: stopping (SIGTERM)" in demo.output and "demo: stopped" in demo.output
    assert still_running(children, 10) == [], demo.output
    for port in (api_port, ui_port, training_port):
        assert port_free(port), port
    assert not (data / "pgdata" / "postmaster.pid").exists()  # embedded server stopped
