"""A tiny local webhook receiver standing in for n8n: logs what it receives (JSON lines)."""

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
class ReceiverStats:
    received: int = 0
    alerts: int = 0
    last_coin: str | None = None
    log_path: Path | None = None
    errors: list[str] = field(default_factory=list)


def _append(path: Path, line: str) -> None:
    with path.open("a", encoding="utf-8") as log:
        log.write(line + "\n")


def receiver_app(stats: ReceiverStats) -> Starlette:
    """POST /webhook: count, append the body to ``stats.log_path``, answer 200."""

    async def hook(request: Request) -> JSONResponse:
        body = await request.body()
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
        return JSONResponse({"received": True, "count": stats.received})

    return Starlette(routes=[Route(PATH, hook, methods=["POST"])])
