"""`ml-prediction-service ui`: serves the app on 127.0.0.1 and stops on Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import httpx

from tests.support.http import free_port
from tests.support.wait import eventually_sync


def test_help_lists_ui_and_demo() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "ml_prediction_service", "--help"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert "ui" in out and "demo" in out
    demo = subprocess.run(
        [sys.executable, "-m", "ml_prediction_service", "demo", "--help"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    for flag in ("--coins", "--speed", "--duration", "--no-ui"):
        assert flag in demo


def test_ui_command_serves_and_stops_on_ctrl_c() -> None:
    port, api_port = free_port(), free_port()
    env = {**os.environ, "API_URL": f"http://127.0.0.1:{api_port}"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ml_prediction_service", "ui", "--port", str(port)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:

        def healthy() -> httpx.Response | None:
            assert proc.poll() is None, proc.communicate()[0]
            health = httpx.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=2)
            return health if health.status_code == 200 else None

        health = eventually_sync(healthy, 60, interval=0.25, ignore=(httpx.HTTPError,))
        assert health is not None, "the UI did not start"
        assert health.text == "ok"
        assert httpx.get(f"http://127.0.0.1:{port}/", timeout=5).status_code == 200
        # like a terminal's Ctrl-C: SIGINT to the whole process group
        os.killpg(proc.pid, signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode in (0, 130), out
    assert f"web UI on http://127.0.0.1:{port} (API: http://127.0.0.1:{api_port})" in out
