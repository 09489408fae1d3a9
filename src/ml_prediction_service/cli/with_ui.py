"""``serve --with-ui``: the API and pipeline (uvicorn, this process) with the web UI as a
supervised Streamlit child - the one-container form of the Docker image.

Supervision: the UI is part of the command. If the UI exits on its own, the API is stopped
cleanly and the command exits 1, so that whoever started it (Docker's restart policy, a
process manager) restarts both. SIGINT and SIGTERM stop the API, then the UI.
"""

from __future__ import annotations

import logging
import threading

import uvicorn

from ml_prediction_service.config import Settings
from ml_prediction_service.ui.child import on_stop_signals, start_ui, stop_ui

logger = logging.getLogger("ml_prediction_service.cli")

WILDCARDS = {"", "0.0.0.0", "::", "[::]"}


def own_api_url(host: str, port: int) -> str:
    """How a process in the same host (or container) reaches an API bound to ``host``."""
    if host in WILDCARDS:
        host = "127.0.0.1"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


def serve_with_ui(server: uvicorn.Server, settings: Settings, api_url: str) -> int:
    """Run ``server`` with the UI beside it; 0 after a requested stop, 1 on a failure."""
    host, port = settings.ui_host, settings.ui_port
    ui_failed: list[int] = []

    def on_signal(signum: int) -> None:
        server.handle_exit(signum, None)

    with on_stop_signals(on_signal):
        child = start_ui(port, host, api_url, settings.api_key)
        logger.info("web UI on http://%s:%d (API: %s)", host, port, api_url)

        def watch() -> None:
            code = child.wait()
            if not server.should_exit:
                ui_failed.append(code)
                logger.error(
                    "the web UI exited with code %d; stopping the API (serve --with-ui exits 1)",
                    code,
                )
                server.should_exit = True

        watcher = threading.Thread(target=watch, name="web-ui-watcher", daemon=True)
        watcher.start()
        try:
            server.run()
        finally:
            stop_ui(child)
            watcher.join(timeout=5)
    return 0 if server.started and not ui_failed else 1
