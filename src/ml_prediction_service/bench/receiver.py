"""The benchmark's n8n stand-in, as its own process (so it does not share the service's
interpreter): ``python -m ml_prediction_service.bench.receiver --port P [--delay-ms D]
[--fail-every N]``. Answers every POST on 127.0.0.1 after D ms, with a 503 for every Nth.
Bounded: it stops by itself after ``--max-seconds``."""

from __future__ import annotations

import argparse
import asyncio

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


def app(delay_ms: float, fail_every: int) -> Starlette:
    count = 0

    async def hook(request: Request) -> JSONResponse:
        nonlocal count
        await request.body()
        count += 1
        if delay_ms:
            await asyncio.sleep(delay_ms / 1000)
        if fail_every and count % fail_every == 0:
            return JSONResponse({"received": False}, status_code=503)
        return JSONResponse({"received": True})

    return Starlette(routes=[Route("/{path:path}", hook, methods=["POST"])])


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench-receiver")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay-ms", type=float, default=1.0)
    parser.add_argument("--fail-every", type=int, default=0)
    parser.add_argument("--max-seconds", type=float, default=3600.0)
    args = parser.parse_args()
    config = uvicorn.Config(
        app(args.delay_ms, args.fail_every),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        backlog=2048,
    )
    server = uvicorn.Server(config)

    async def bounded() -> None:
        task = asyncio.create_task(server.serve())
        try:
            await asyncio.wait_for(asyncio.shield(task), args.max_seconds)
        except TimeoutError:
            server.should_exit = True
            await task

    asyncio.run(bounded())


if __name__ == "__main__":
    main()
