"""Run an ASGI app on a real uvicorn server on 127.0.0.1 (a free port) inside the test."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import uvicorn
from starlette.types import ASGIApp

from tests.support.wait import eventually


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def serve_app(
    app: ASGIApp, *, startup_timeout: float = 30.0, port: int | None = None
) -> AsyncIterator[str]:
    """Start ``app`` (lifespan included) and yield its base URL; stop it afterwards.

    A failure during start-up or serving fails the test instead of hanging it.
    """
    port = port or free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(startup_timeout):
            while not server.started:
                if task.done():
                    task.result()
                    raise RuntimeError("server exited during start-up")
                await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=30)


async def health_status(client: httpx.AsyncClient, want: int, seconds: float) -> httpx.Response:
    """Poll ``GET /api/health`` until it answers ``want``; the last response either way."""
    last: list[httpx.Response] = []

    async def answered() -> bool:
        last.append(await client.get("/api/health", timeout=5))
        return last[-1].status_code == want

    await eventually(answered, seconds, interval=0.1)
    return last[-1]
