"""The uvicorn server of ``serve`` (the production command): its signals and its start."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Iterator
from types import FrameType

import uvicorn

logger = logging.getLogger("ml_prediction_service.cli")


class ApiServer(uvicorn.Server):
    """uvicorn for ``serve``: exits normally on SIGINT/SIGTERM (uvicorn re-raises the signal
    by default, which would skip the clean stop of an embedded database this process
    started); a signal while the service is still starting cancels the start; and "serving
    API on …" is logged once the socket really accepts connections."""

    def __init__(self, config: uvicorn.Config, url: str) -> None:
        super().__init__(config)
        self.url = url
        self.starting: asyncio.Task[None] | None = None

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        previous = {
            sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        if not self.started and self.starting is not None:
            self.starting.get_loop().call_soon_threadsafe(self.starting.cancel)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self.starting = None  # the service is up: from here on uvicorn stops gracefully
        await super().startup(sockets)
        if self.started:
            logger.info("serving API on %s (docs at /docs)", self.url)
