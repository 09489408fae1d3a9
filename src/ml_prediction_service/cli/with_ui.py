"""``serve --with-ui``: the API and pipeline (uvicorn, this process) with the web UI as a
supervised Streamlit child - the one-container form of the Docker image.

Supervision: the UI is part of the command. It starts once the service is up (a database
that cannot be used ends ``serve`` with its one-line error before any UI exists). If the UI
exits on its own, the API is stopped cleanly and the command exits 1, so that whoever
started it (Docker's restart policy, a process manager) restarts both. SIGINT and SIGTERM
stop the API (``cli/serving.py``), then the UI's whole process group.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator

import uvicorn

from ml_prediction_service.config import Settings
from ml_prediction_service.httpserve import http_url
from ml_prediction_service.ui.child import start_ui, stop_ui

logger = logging.getLogger("ml_prediction_service.cli")

WILDCARDS = {"", "0.0.0.0", "::", "[::]"}


def own_api_url(host: str, port: int) -> str:
    """How a process in the same host (or container) reaches an API bound to ``host``."""
    return http_url("127.0.0.1" if host in WILDCARDS else host, port)


@contextlib.contextmanager
def ui_beside(
    server: uvicorn.Server, settings: Settings, api_url: str, failed: list[int]
) -> Iterator[None]:
    """The UI on UI_HOST:UI_PORT while the block runs. If it exits by itself, its exit code
    goes to ``failed`` and ``server`` is asked to exit; it is stopped when the block ends."""
    host, port = settings.ui_host, settings.ui_port
    child = start_ui(port, host, api_url, settings.api_key)
    logger.info("web UI on http://%s:%d (API: %s)", host, port, api_url)
    stopping = threading.Event()

    def watch() -> None:
        code = child.wait()
        if not stopping.is_set() and not server.should_exit:
            failed.append(code)
            logger.error(
                "the web UI exited with code %d; stopping the API (serve --with-ui exits 1)",
                code,
            )
            server.should_exit = True

    watcher = threading.Thread(target=watch, name="web-ui-watcher", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        stopping.set()
        stop_ui(child)
        watcher.join(timeout=5)
