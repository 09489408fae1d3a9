"""One place that turns every known error into JSON ``{"detail": ..., "code": ...}``.

Anything else (a bug) becomes a JSON 500 in ``RequestContextMiddleware``, the last resort
that also carries the request id: Starlette's own ``Exception`` handler would never see it,
because that middleware sits between it and the routes."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ml_prediction_service.db.pool import CONNECTION_ERRORS
from ml_prediction_service.errors import ServiceError
from ml_prediction_service.features.errors import FeatureContractError

logger = logging.getLogger(__name__)

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    503: "unavailable",
}


def error_body(detail: str, code: str, **extra: Any) -> dict[str, Any]:
    return {"detail": detail, "code": code, **extra}


# json's messages (JSONDecodeError.msg) → what usually causes them
_JSON_HINTS = {
    "Expecting property name enclosed in double quotes": (
        "object keys need double quotes, and there is no trailing comma after the last item"
    ),
    "Expecting value": (
        "a value is missing or is not JSON: strings need double quotes, "
        "true/false/null are lower case, no trailing commas"
    ),
    "Expecting ',' delimiter": "items of an object or a list are separated by commas",
    "Expecting ':' delimiter": "each object key is followed by a colon and its value",
    "Extra data": "the body must hold exactly one JSON value (one object)",
    "Unterminated string starting at": "a string is missing its closing double quote",
    "Invalid control character at": "write newlines and tabs inside strings as \\n and \\t",
    "Invalid \\escape": "a backslash in a string must start an escape such as \\\\ or \\n",
}


def describe_json_error(doc: str, pos: int, msg: str, what: str = "request body") -> str:
    """``json``'s complaint about ``what`` (``doc``) at ``pos``: what is wrong, where
    (line/column) and a hint."""
    line = doc.count("\n", 0, pos) + 1
    column = pos - doc.rfind("\n", 0, pos)
    hint = next((h for start, h in _JSON_HINTS.items() if msg.startswith(start)), None)
    where = f"{msg} at line {line}, column {column} (character {pos})"
    return f"{what} is not valid JSON: {where}" + (f"; hint: {hint}" if hint else "")


def _describe_validation(exc: RequestValidationError) -> str:
    for err in exc.errors():
        if err.get("type") == "json_invalid" and isinstance(exc.body, str | bytes):
            doc = exc.body if isinstance(exc.body, str) else exc.body.decode("utf-8", "replace")
            loc = err.get("loc", ())
            pos = loc[-1] if loc and isinstance(loc[-1], int) else 0
            return describe_json_error(doc, pos, str(err.get("ctx", {}).get("error", "")))
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    return "invalid request: " + "; ".join(parts)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
        return JSONResponse(error_body(exc.message, exc.code, **exc.extra), status_code=exc.status)

    @app.exception_handler(FeatureContractError)
    async def _contract_error(request: Request, exc: FeatureContractError) -> JSONResponse:
        return JSONResponse(error_body(exc.message, exc.code), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "http_error")
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no such endpoint: {request.method} {request.url.path} (see /docs)"
        elif exc.status_code == 400 and detail == "There was an error parsing the body":
            detail = (
                "the request body could not be read: send UTF-8 JSON with Content-Type "
                "application/json (uploads: a multipart form), as /docs shows"
            )
        elif exc.status_code == 405:
            detail = f"method {request.method} is not allowed on {request.url.path}"
        return JSONResponse(
            error_body(detail, code), status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")}
            for e in exc.errors()
        ]
        return JSONResponse(
            error_body(_describe_validation(exc), "validation_error", errors=errors),
            status_code=422,
        )

    async def _db_error(request: Request, exc: Exception) -> JSONResponse:
        # health learns of it from its own probe (the one place database liveness is kept)
        logger.warning(
            "database unavailable during %s %s: %s", request.method, request.url.path, exc
        )
        return JSONResponse(
            error_body(f"database unavailable: {type(exc).__name__}: {exc}", "db_unavailable"),
            status_code=503,
        )

    for exc_class in CONNECTION_ERRORS:
        app.add_exception_handler(exc_class, _db_error)
