"""A tiny local webhook receiver standing in for n8n: the demo's, and the tests'.

It counts what it receives and appends each JSON body to a log (JSON lines) if it has one.
The tests also have it keep every request (``record``), answer chosen status codes in
turn (``statuses``, with ``Retry-After`` on a 429), answer slowly (``delay``), and take
POSTs on any path (``receiver_app(..., any_path=True)``).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

PATH = "/webhook"


@dataclass
class Received:
    """One request as it arrived."""

    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class ReceiverStats:
    received: int = 0
    alerts: int = 0
    last_coin: str | None = None
    log_path: Path | None = None
    errors: list[str] = field(default_factory=list)
    record: bool = False  # keep every request in ``requests`` (unbounded: tests only)
    requests: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # answered in turn, then 200
    delay: float = 0.0  # seconds before answering
    retry_after: str | None = None  # ``Retry-After`` of a 429 from ``statuses``


def _append(path: Path, line: str) -> None:
    with path.open("a", encoding="utf-8") as log:
        log.write(line + "\n")


def receiver_app(stats: ReceiverStats, *, any_path: bool = False) -> Starlette:
    """POST ``PATH`` (any path with ``any_path``): count, append the body to
    ``stats.log_path``, answer 200 — or the next of ``stats.statuses``."""

    async def hook(request: Request) -> JSONResponse:
        body = await request.body()
        if stats.delay:
            await asyncio.sleep(stats.delay)
        if stats.record:
            stats.requests.append(Received(request.url.path, dict(request.headers), body))
        status = stats.statuses.pop(0) if stats.statuses else 200
        if status >= 300:
            headers = (
                {"Retry-After": stats.retry_after} if stats.retry_after and status == 429 else {}
            )
            return JSONResponse({"received": False, "status": status}, status, headers)
        try:
            payload: Any = json.loads(body)
        except ValueError:
            return JSONResponse({"detail": "body is not JSON"}, status_code=400)
        stats.received += 1
        if isinstance(payload, dict):
            meta = payload.get("metadata") or {}
            stats.alerts += int(meta.get("alerts_count") or 0)
            stats.last_coin = str(payload.get("coin_id"))
        if stats.log_path is not None:
            line = json.dumps(
                {"received_at": datetime.now(UTC).isoformat(), "payload": payload},
                separators=(",", ":"),
            )
            await asyncio.to_thread(_append, stats.log_path, line)
        return JSONResponse({"received": True, "count": stats.received}, status)

    route = "/{path:path}" if any_path else PATH
    return Starlette(routes=[Route(route, hook, methods=["POST"])])
