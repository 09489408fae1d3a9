"""How the Streamlit app is started (headless, no usage stats, 127.0.0.1): the command line
and environment used by ``ml-prediction-service ui`` (``cli/ui.py``) and the demo."""

from __future__ import annotations

import os
import sys
from pathlib import Path

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
