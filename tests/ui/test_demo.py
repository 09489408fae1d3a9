"""`ml-prediction-service demo` as a person runs it: a subprocess on a fresh DATA_DIR,
free ports, bounded by --duration; then again (reusing everything) until Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.support.http import free_port
from tests.support.wait import eventually_sync

API_KEY = "demo-test-key"


class DemoProcess:
    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ml_prediction_service", "demo", *args],
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for_line(self, text: str, seconds: float) -> None:
        def printed() -> bool:
            if any(text in line for line in self.lines):
                return True
            assert self.proc.poll() is None, f"demo exited early:\n{self.output}"
            return False

        assert eventually_sync(printed, seconds), f"no line with {text!r}:\n{self.output}"

    def finish(self, seconds: float) -> int:
        try:
            code = self.proc.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"demo did not stop within {seconds}s:\n{self.output}")
        self.reader.join(timeout=5)
        return code


def demo_env(data_dir: Path, api_port: int, ui_port: int) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DB_DSN", "N8N_WEBHOOK_URL", "LOG_LEVEL", "API_URL"}
    }
    env.update(
        DATA_DIR=str(data_dir),
        API_PORT=str(api_port),
        UI_PORT=str(ui_port),
        API_KEY=API_KEY,
    )
    return env


def wait_for(check: Callable[[], bool], seconds: float, what: str) -> None:
    happened = eventually_sync(check, seconds, interval=0.25, ignore=(httpx.HTTPError,))
    assert happened, f"{what} did not happen within {seconds}s"


@pytest.mark.slow
def test_demo_bounded_then_again_until_ctrl_c(tmp_path: Path) -> None:
    data = tmp_path / "data"
    api_port, ui_port, training_port = free_port(), free_port(), free_port()
    env = demo_env(data, api_port, ui_port)
    api = httpx.Client(
        base_url=f"http://127.0.0.1:{api_port}", headers={"X-API-Key": API_KEY}, timeout=10
    )
    common = ["--coins", "20", "--training-port", str(training_port), "--seed", "3"]

    first = DemoProcess(
        ["--duration", "20", "--no-ui", "--status-interval", "5", *common], env, tmp_path
    )
    first.wait_for_line("demo is running", 180)
    active = api.get("/api/models/active").json()
    assert active["total"] == 4
    kinds = {(m["model_type"], bool(m["future_minutes"])) for m in active["models"]}
    assert kinds == {
        ("random_forest", False),
        ("random_forest", True),
        ("xgboost", False),
        ("xgboost", True),
    }
    assert {m["webhook_send_mode"][0] for m in active["models"]} == {"alerts_only"}
    wait_for(lambda: api.get("/api/stats").json()["total_predictions"] > 0, 30, "a prediction")
    receipts = data / "demo" / "webhooks.jsonl"
    wait_for(lambda: receipts.exists() and receipts.stat().st_size > 0, 40, "a webhook")
    assert first.finish(90) == 0, first.output
    out = first.output
    assert out.count("READY in") == 4
    assert out.count("imported and active") == 4
    assert "duration of 20s reached" in out and "demo: stopped" in out
    assert "Web UI" not in out
    payloads = [json.loads(line)["payload"] for line in receipts.read_text().splitlines()]
    assert payloads and all(p["metadata"]["alerts_count"] >= 1 for p in payloads)
    assert all(p["predictions"][0]["model"]["name"].startswith("Demo ") for p in payloads)

    # Again on the same DATA_DIR: nothing is trained or imported twice; with the UI;
    # until Ctrl-C (SIGINT), which stops every part.
    second = DemoProcess(["--status-interval", "5", *common], env, tmp_path)
    second.wait_for_line("demo is running", 180)
    assert f"Web UI            http://127.0.0.1:{ui_port}" in second.output
    assert httpx.get(f"http://127.0.0.1:{ui_port}/_stcore/health", timeout=5).text == "ok"
    assert api.get("/api/models/active").json()["total"] == 4
    second.proc.send_signal(signal.SIGINT)
    assert second.finish(60) == 0, second.output
    out = second.output
    assert out.count("already trained") == 4
    assert out.count("already imported and active") == 4
    assert "training 'Demo" not in out and "importing through the API" not in out
    assert "demo: stopping (Ctrl-C)" in out and "demo: stopped" in out
    for port in (api_port, ui_port, training_port):
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
    assert not (data / "pgdata" / "postmaster.pid").exists()  # embedded server stopped
    api.close()
