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


def _describe_validation(exc: RequestValidationError) -> str:
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
