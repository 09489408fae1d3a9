"""HTTP stand-in of the training service (contract §4), over ``ml_models`` rows and files.

* ``GET /api/models?status=READY&is_deleted=false`` - list (without the time-based columns);
* ``GET /api/models/{id}`` - one model (404 if missing or deleted);
* ``GET /api/models/{id}/download`` - the model file's exact bytes, ``application/octet-stream``
  (404 if the model is missing or deleted, or its file is missing).

The pool is created in the lifespan; nothing happens at import time. Bind to 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import FileResponse, JSONResponse, Response

from ml_prediction_service.db import ml_models_repo
from ml_prediction_service.db.ml_models_repo import ML_MODELS_COLUMNS
from ml_prediction_service.db.pool import create_pool

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8001
_MAX_BIGINT = 2**63 - 1

# The list leaves out the time-based columns (that information is in params._time_based).
TIME_BASED_COLUMNS: tuple[str, ...] = ("future_minutes", "price_change_percent", "target_direction")
LIST_COLUMNS: tuple[str, ...] = tuple(c for c in ML_MODELS_COLUMNS if c not in TIME_BASED_COLUMNS)


def _not_found(model_id: int, what: str = "model") -> JSONResponse:
    return JSONResponse(
        status_code=404, content={"detail": f"{what} not found", "model_id": model_id}
    )


def create_app(dsn: str, *, pool_min_size: int = 1, pool_max_size: int = 4) -> FastAPI:
    """The stand-in app reading ``ml_models`` from the database at ``dsn``."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = await create_pool(
            dsn,
            min_size=pool_min_size,
            max_size=pool_max_size,
            application_name="training-service-stand-in",
        )
        app.state.pool = pool
        try:
            yield
        finally:
            await pool.close()

    app = FastAPI(
        title="Training service (stand-in)",
        description="Development stand-in of the external training service's model API.",
        lifespan=lifespan,
    )

    def pool_of(request: Request) -> asyncpg.Pool:
        return request.app.state.pool

    @app.get("/api/health")
    async def health() -> dict[str, str]:
        return {"status": "ok", "service": "training-service-stand-in"}

    @app.get("/api/models")
    async def list_models(
        request: Request, status: str | None = None, is_deleted: bool | None = None
    ) -> Response:
        rows = await ml_models_repo.list_rows(
            pool_of(request), LIST_COLUMNS, status=status, is_deleted=is_deleted
        )
        return JSONResponse(jsonable_encoder(rows))

    async def fetch_model(request: Request, model_id: int) -> dict[str, Any] | None:
        if not 0 < model_id <= _MAX_BIGINT:
            return None
        return await ml_models_repo.get_row(pool_of(request), model_id)

    @app.get("/api/models/{model_id}")
    async def get_model(request: Request, model_id: int) -> Response:
        row = await fetch_model(request, model_id)
        if row is None:
            return _not_found(model_id)
        return JSONResponse(jsonable_encoder(row))

    @app.get("/api/models/{model_id}/download")
    async def download_model(request: Request, model_id: int) -> Response:
        row = await fetch_model(request, model_id)
        if row is None:
            return _not_found(model_id)
        raw: Any = row["model_file_path"]
        path = Path(raw) if raw else None
        if path is None or not path.is_file():
            return _not_found(model_id, "model file")
        return FileResponse(path, media_type="application/octet-stream", filename=path.name)

    return app
