"""``ml-prediction-service ui``: run the Streamlit app (headless, no usage stats, 127.0.0.1)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from ml_prediction_service.config import Settings

APP = Path(__file__).with_name("app.py")


def streamlit_command(port: int, host: str = "127.0.0.1") -> list[str]:
    """The command line that serves the UI on ``host:port`` (no browser, no telemetry)."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--server.fileWatcherType",
        "none",
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "minimal",
        "--global.developmentMode",
        "false",
    ]


def ui_environment(api_url: str, api_key: str) -> dict[str, str]:
    """The child's environment: this one, with the API it must talk to."""
    env = dict(os.environ)
    env["API_URL"] = api_url
    env["API_KEY"] = api_key
    return env


def cmd_ui(settings: Settings, args: argparse.Namespace) -> int:
    host = args.host
    port = args.port or settings.ui_port
    api_url = args.api_url or settings.api_url
    print(f"web UI on http://{host}:{port} (API: {api_url}); Ctrl-C stops it", flush=True)
    child = subprocess.Popen(
        streamlit_command(port, host), env=ui_environment(api_url, settings.api_key)
    )
    try:
        return child.wait()
    except KeyboardInterrupt:
        # The terminal sent SIGINT to the child too; give it time to stop cleanly.
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        return 130


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``ui`` to the ``ml-prediction-service`` parser."""
    ui = subparsers.add_parser("ui", help="run the web UI (Streamlit) against the REST API")
    ui.add_argument("--host", default="127.0.0.1", help="bind address (127.0.0.1)")
    ui.add_argument("--port", type=int, default=None, help="port (default: UI_PORT, 8501)")
    ui.add_argument("--api-url", default=None, help="the REST API (default: API_URL)")
    ui.set_defaults(handler=cmd_ui)
