"""The Streamlit child of ``ui`` and ``serve --with-ui``: started in a session (process group)
of its own, so that only its parent decides when it stops, and stopped as a whole group
(SIGTERM, then SIGKILL after a grace period)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from types import FrameType

from ml_prediction_service.ui.commands import streamlit_command, ui_environment

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def start_ui(port: int, host: str, api_url: str, api_key: str) -> subprocess.Popen[bytes]:
    """Start the web UI on ``host:port`` talking to ``api_url`` (output goes to ours)."""
    return subprocess.Popen(
        streamlit_command(port, host),
        env=ui_environment(api_url, api_key),
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )


def signal_group(pid: int, sig: signal.Signals) -> None:
    """Signal the process group that the child ``pid`` leads (it was started with
    ``start_new_session``), if it is still there."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def stop_ui(child: subprocess.Popen[bytes], grace_seconds: float = 10.0) -> int:
    """Stop the child and everything in its process group; its exit code."""
    if child.poll() is None:
        signal_group(child.pid, signal.SIGTERM)
        try:
            child.wait(timeout=grace_seconds)
        except subprocess.TimeoutExpired:
            signal_group(child.pid, signal.SIGKILL)
            child.wait()
    # Anything the child left behind in its group goes too.
    signal_group(child.pid, signal.SIGKILL)
    return child.returncode


@contextlib.contextmanager
def on_stop_signals(handler: Callable[[int], None]) -> Iterator[None]:
    """Call ``handler(signum)`` on SIGINT and SIGTERM (instead of KeyboardInterrupt or the
    default of dying at once), restoring the previous handlers afterwards."""

    def call(signum: int, _frame: FrameType | None) -> None:
        handler(signum)

    previous = {sig: signal.signal(sig, call) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
