"""HTTP servers inside the demo's event loop: sockets bound up front (a taken port is a
clear error before anything starts), no signal handling of their own (the demo owns it)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from dataclasses import dataclass

import uvicorn
from starlette.types import ASGIApp


class PortInUse(RuntimeError):
    pass


def bind(host: str, port: int, what: str, variable: str | None = None) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: any free port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        hint = f" (set {variable} to another port)" if variable else ""
        raise PortInUse(f"cannot listen on {host}:{port} for the {what}: {exc}{hint}") from exc
    sock.listen(128)
    sock.setblocking(False)
    return sock


def port_of(sock: socket.socket) -> int:
    return int(sock.getsockname()[1])


class _QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the demo handles SIGINT/SIGTERM for all of its parts


@dataclass
class RunningServer:
    name: str
    url: str
    server: uvicorn.Server
    task: asyncio.Task[None]

    async def stop(self, grace_seconds: float = 15.0) -> None:
        self.server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(self.task), grace_seconds)
        except TimeoutError:
            self.server.force_exit = True
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task


async def start_server(
    name: str, app: ASGIApp, sock: socket.socket, *, startup_timeout: float = 60.0
) -> RunningServer:
    """Serve ``app`` on ``sock`` (lifespan included); return once it accepts requests."""
    host, port = sock.getsockname()[:2]
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="on")
    server = _QuietServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name=f"demo-{name}")
    async with asyncio.timeout(startup_timeout):
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError(f"the {name} stopped during start-up")
            await asyncio.sleep(0.05)
    return RunningServer(name, f"http://{host}:{port}", server, task)
