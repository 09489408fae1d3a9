"""``ml-prediction-service ui``: the Streamlit web UI as a child process (``ui/``). SIGINT
(Ctrl-C) and SIGTERM (``docker stop``) stop the child the same way, then the command."""

from __future__ import annotations

import argparse
import contextlib
import subprocess

from ml_prediction_service.cli.args import Subparsers, tcp_port
from ml_prediction_service.config import Settings
from ml_prediction_service.ui.child import on_stop_signals, start_ui, stop_ui

POLL_SECONDS = 0.2
FOREVER_SECONDS = 10 * 365 * 86400.0  # "until stopped", still a bound


def cmd_ui(settings: Settings, args: argparse.Namespace) -> int:
    host = args.host or settings.ui_host
    port = args.port or settings.ui_port
    api_url = args.api_url or settings.api_url
    print(f"web UI on http://{host}:{port} (API: {api_url}); Ctrl-C stops it", flush=True)
    stop: list[int] = []
    with on_stop_signals(stop.append):
        child = start_ui(port, host, api_url, settings.api_key)
        try:
            for _ in range(int(FOREVER_SECONDS / POLL_SECONDS)):
                if stop or child.poll() is not None:
                    break
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.wait(timeout=POLL_SECONDS)
        finally:
            code = stop_ui(child)
    # Asked to stop: a clean stop. Otherwise the UI ended by itself: its code.
    return 0 if stop else code


def register(subparsers: Subparsers) -> None:
    """Add ``ui`` to the ``ml-prediction-service`` parser."""
    ui = subparsers.add_parser("ui", help="run the web UI (Streamlit) against the REST API")
    ui.add_argument("--host", default=None, help="bind address (default: UI_HOST, 127.0.0.1)")
    ui.add_argument("--port", type=tcp_port, default=None, help="port (default: UI_PORT, 8501)")
    ui.add_argument("--api-url", default=None, help="the REST API (default: API_URL)")
    ui.set_defaults(handler=cmd_ui)
