"""ReDoc at ``/redoc`` from the files fastapi-offline ships (Swagger UI at ``/docs`` comes
from the same package, see ``app.py``): nothing is loaded from a CDN.

ReDoc's sidebar shows a logo from redocly's CDN; the page's Content-Security-Policy keeps the
browser from fetching images from anywhere but the service, so an air-gapped server's docs
make no outside request at all (the logo is simply left out)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html
from starlette.responses import HTMLResponse

REDOC_CSP = "img-src 'self' data:"


def add_redoc(app: FastAPI, static_url: str, path: str = "/redoc") -> None:
    @app.get(path, include_in_schema=False)
    async def redoc() -> HTMLResponse:
        page = get_redoc_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{static_url}/redoc.standalone.js",
            redoc_favicon_url=f"{static_url}/favicon.png",
            with_google_fonts=False,
        )
        page.headers["Content-Security-Policy"] = REDOC_CSP
        return page
