"""The FastAPI application factory. Nothing is created at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from ml_prediction_service import __version__
from ml_prediction_service.api.docs import add_redoc
from ml_prediction_service.api.errors import install_error_handlers
from ml_prediction_service.api.middleware import ApiKeyMiddleware, RequestContextMiddleware
from ml_prediction_service.api.routers import (
    coins,
    evaluations,
    models,
    predictions,
    replays,
    statistics,
    system,
    webhooks,
)
from ml_prediction_service.api.routers import (
    settings as settings_router,
)
from ml_prediction_service.config import Settings
from ml_prediction_service.service import Service

DOCS_STATIC_URL = "/docs-static"


def create_app(settings: Settings, dsn: str) -> FastAPI:
    """Build the app; the lifespan starts the service on ``dsn`` and stops it again."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service = await Service.start(settings, dsn)
        app.state.service = service
        try:
            yield
        finally:
            await service.stop()

    # /docs (Swagger UI) and /redoc from files shipped in fastapi-offline, not from a CDN:
    # they work on a server without internet access
    app = FastAPIOffline(
        static_url=DOCS_STATIC_URL,
        redoc_url=None,
        title="ML Prediction Service",
        version=__version__,
        description="Real-time predictions for coin_metrics rows with imported "
        "Random Forest / XGBoost models; n8n webhooks; Prometheus metrics.",
        lifespan=lifespan,
    )
    add_redoc(app, DOCS_STATIC_URL)
    install_error_handlers(app)
    app.include_router(system.router)
    app.include_router(models.router)
    app.include_router(predictions.router)
    app.include_router(webhooks.router)
    app.include_router(coins.router)
    app.include_router(settings_router.router)
    app.include_router(statistics.router)
    app.include_router(evaluations.router)
    app.include_router(replays.router)
    # Added last = outermost: every response, even a 401, carries the request id.
    app.add_middleware(ApiKeyMiddleware, api_key=settings.api_key)
    app.add_middleware(RequestContextMiddleware)
    return app
