"""Real HTTP in tests: an ASGI app served on 127.0.0.1 inside the test, free ports for
subprocesses, and waiting for a service's health."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from starlette.types import ASGIApp

from ml_prediction_service.httpserve import serving
from tests.support.wait import eventually


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def serve_app(
    app: ASGIApp, *, startup_timeout: float = 30.0, port: int | None = None
) -> AsyncIterator[str]:
    """Serve ``app`` (lifespan included) on 127.0.0.1 (``port``, or a free one) and yield its
    base URL; stop it afterwards (``ml_prediction_service.httpserve``).

    A failure during start-up or serving fails the test instead of hanging it.
    """
    async with serving(
        "server under test", app, port=port or 0, startup_timeout=startup_timeout, grace_seconds=30
    ) as server:
        yield server.url


async def health_status(client: httpx.AsyncClient, want: int, seconds: float) -> httpx.Response:
    """Poll ``GET /api/health`` until it answers ``want``; the last response either way."""
    last: list[httpx.Response] = []

    async def answered() -> bool:
        last.append(await client.get("/api/health", timeout=5))
        return last[-1].status_code == want

    await eventually(answered, seconds, interval=0.1)
    return last[-1]
