"""``ml-prediction-service ui``: the Streamlit web UI as a child process (``ui/``)."""

from __future__ import annotations

import argparse
import subprocess

from ml_prediction_service.cli.args import Subparsers, tcp_port
from ml_prediction_service.config import Settings
from ml_prediction_service.ui.commands import streamlit_command, ui_environment


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


def register(subparsers: Subparsers) -> None:
    """Add ``ui`` to the ``ml-prediction-service`` parser."""
    ui = subparsers.add_parser("ui", help="run the web UI (Streamlit) against the REST API")
    ui.add_argument("--host", default="127.0.0.1", help="bind address (127.0.0.1)")
    ui.add_argument("--port", type=tcp_port, default=None, help="port (default: UI_PORT, 8501)")
    ui.add_argument("--api-url", default=None, help="the REST API (default: API_URL)")
    ui.set_defaults(handler=cmd_ui)
