"""The web UI as a Streamlit child process of the demo (own session: the demo stops it)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path

import httpx

from ml_prediction_service.demo.servers import bind
from ml_prediction_service.ui.child import signal_group
from ml_prediction_service.ui.commands import streamlit_command, ui_environment

HOST = "127.0.0.1"


class UiProcess:
    def __init__(self, port: int, api_url: str, api_key: str, log_dir: Path) -> None:
        self.port = port
        self.api_url = api_url
        self.api_key = api_key
        self.log_path = log_dir / "ui.log"
        self.process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def check_port(self) -> None:
        """Fail early (with the variable to change) when UI_PORT is taken."""
        bind(HOST, self.port, "web UI", "UI_PORT").close()

    def _tail(self, lines: int = 5) -> str:
        try:
            text = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(text[-lines:])

    async def start(self, startup_seconds: float = 90.0) -> None:
        with self.log_path.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                *streamlit_command(self.port, HOST),
                env=ui_environment(self.api_url, self.api_key),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
        async with httpx.AsyncClient(timeout=2) as client:
            for _ in range(int(startup_seconds / 0.25)):
                if self.process.returncode is not None:
                    raise RuntimeError(f"the web UI did not start: {self._tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    resp = await client.get(f"{self.url}/_stcore/health")
                    if resp.status_code == 200:
                        return
                await asyncio.sleep(0.25)
        raise RuntimeError(f"the web UI did not answer within {startup_seconds:g}s: {self._tail()}")

    def problem(self) -> str | None:
        if self.process is not None and self.process.returncode is not None:
            return (
                f"the web UI exited with code {self.process.returncode} ({self.log_path}: "
                f"{self._tail(3)})"
            )
        return None

    async def stop(self, grace_seconds: float = 10.0) -> None:
        process = self.process
        if process is None or process.returncode is not None:
            return
        # The child leads its own process group (start_new_session): stop all of it.
        signal_group(process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), grace_seconds)
        except TimeoutError:
            signal_group(process.pid, signal.SIGKILL)
            await process.wait()
