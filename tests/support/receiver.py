"""A stand-in for n8n: a real HTTP server on 127.0.0.1 that records what it receives and can
answer slowly or with chosen status codes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support.http import serve_app


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    requests: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # answered in turn, then 200
    delay: float = 0.0
    retry_after: str | None = None

    def app(self) -> Starlette:
        async def hook(request: Request) -> Response:
            body = await request.body()
            if self.delay:
                await asyncio.sleep(self.delay)
            self.requests.append(Received(request.url.path, dict(request.headers), body))
            status = self.statuses.pop(0) if self.statuses else 200
            headers = (
                {"Retry-After": self.retry_after} if self.retry_after and status == 429 else {}
            )
            return JSONResponse(
                {"received": True, "status": status}, status_code=status, headers=headers
            )

        return Starlette(routes=[Route("/{path:path}", hook, methods=["POST"])])


@asynccontextmanager
async def running(receiver: Receiver, port: int | None = None) -> AsyncIterator[str]:
    async with serve_app(receiver.app(), port=port) as url:
        yield url
