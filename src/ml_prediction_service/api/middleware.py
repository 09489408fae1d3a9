"""ASGI middleware: request id + access log + last-resort JSON 500, and the API key guard."""

from __future__ import annotations

import hmac
import json
import logging
import re
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ml_prediction_service.observability.logging import new_request_id, request_id_var

logger = logging.getLogger("ml_prediction_service.access")

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


async def _send_json(send: Send, status: int, body: dict[str, Any], request_id: str) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"x-request-id", request_id.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


class RequestContextMiddleware:
    """Gives every request an id (the client's ``X-Request-ID`` if sane, else a new one),
    puts it in the log context and the response header, and logs one access line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        request_id = incoming if incoming and _VALID_REQUEST_ID.match(incoming) else None
        request_id = request_id or new_request_id()
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            logger.exception("unhandled error in %s %s", scope["method"], scope["path"])
            if not response_started:
                detail = (
                    f"internal error ({type(exc).__name__}); see the service log, "
                    f"request id {request_id}"
                )
                await _send_json(
                    send, 500, {"detail": detail, "code": "internal_error"}, request_id
                )
        finally:
            elapsed_ms = (time.perf_counter() - started) * 1000
            logger.info(
                "%s %s -> %d in %.1f ms", scope["method"], scope["path"], status, elapsed_ms
            )
            request_id_var.reset(token)


class ApiKeyMiddleware:
    """When an API key is configured, mutating requests must carry it in ``X-API-Key``."""

    def __init__(self, app: ASGIApp, api_key: str) -> None:
        self.app = app
        self.api_key = api_key.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.api_key and scope["method"] in MUTATING_METHODS:
            given = (_header(scope, b"x-api-key") or "").encode("latin-1")
            if not hmac.compare_digest(given, self.api_key):
                detail = (
                    "missing X-API-Key header" if not given else "invalid X-API-Key header"
                ) + f": {scope['method']} requests need the service's API_KEY"
                await _send_json(
                    send,
                    401,
                    {"detail": detail, "code": "unauthorized"},
                    request_id_var.get() or new_request_id(),
                )
                return
        await self.app(scope, receive, send)
