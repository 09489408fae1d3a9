"""HTTP servers inside the running event loop: an ASGI app on uvicorn, on 127.0.0.1.

The one way the demo, the bench and the tests run an in-process server. The socket is bound
up front (a taken port is a clear error before anything starts; port 0 picks a free one, and
nobody can take it between choosing and serving), the server gets no signal handling of its
own (the caller owns SIGINT/SIGTERM), start-up is bounded and stopping is graceful, then
forced. The production ``serve`` command runs uvicorn itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import uvicorn
from starlette.types import ASGIApp

HOST = "127.0.0.1"

__all__ = [
    "HOST",
    "PortInUse",
    "RunningServer",
    "bind",
    "port_of",
    "serving",
    "start_server",
]


class PortInUse(RuntimeError):
    pass


def bind(
    host: str, port: int, what: str, variable: str | None = None, *, listen: bool = True
) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: any free port). ``listen=False``: only
    bound (the port is taken, connections are not accepted yet; uvicorn listens on it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        hint = f" (set {variable} to another port)" if variable else ""
        raise PortInUse(f"cannot listen on {host}:{port} for the {what}: {exc}{hint}") from exc
    if listen:
        sock.listen(128)
    sock.setblocking(False)
    return sock


def http_url(host: str, port: int) -> str:
    """``http://host:port`` (an IPv6 address in brackets)."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


def port_of(sock: socket.socket) -> int:
    return int(sock.getsockname()[1])


class _QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the caller handles SIGINT/SIGTERM for all of its parts


@dataclass
class RunningServer:
    name: str
    url: str
    server: uvicorn.Server
    task: asyncio.Task[None]

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    async def stop(self, grace_seconds: float = 15.0) -> None:
        """Ask the server to exit; after ``grace_seconds`` force it (and cancel its task)."""
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
    """Serve ``app`` on ``sock`` (lifespan included); return once it accepts requests.

    A failure during start-up (or not being up within ``startup_timeout``) stops the server
    and raises, instead of leaving it half-started.
    """
    host, port = sock.getsockname()[:2]
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="on")
    server = _QuietServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name=f"http-{name}")
    running = RunningServer(name, f"http://{host}:{port}", server, task)
    try:
        async with asyncio.timeout(startup_timeout):
            while not server.started:
                if task.done():
                    task.result()
                    raise RuntimeError(f"the {name} stopped during start-up")
                await asyncio.sleep(0.02)
    except BaseException:
        with contextlib.suppress(Exception):
            await running.stop(grace_seconds=5.0)
        sock.close()
        raise
    return running


@contextlib.asynccontextmanager
async def serving(
    name: str,
    app: ASGIApp,
    *,
    port: int = 0,
    startup_timeout: float = 60.0,
    grace_seconds: float = 15.0,
) -> AsyncIterator[RunningServer]:
    """``app`` served on 127.0.0.1:``port`` (0: a free port) while the block runs."""
    running = await start_server(name, app, bind(HOST, port, name), startup_timeout=startup_timeout)
    try:
        yield running
    finally:
        await running.stop(grace_seconds)
