"""``/docs`` (Swagger UI) and ``/redoc`` render in a real browser that can reach nothing but
127.0.0.1: their scripts and styles come from the service itself, not from a CDN."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.browser import NEEDS_CHROMIUM, offline_browser
from tests.support.world import World

WAIT_MS = 30_000

pytestmark = [pytest.mark.slow, NEEDS_CHROMIUM]


async def test_swagger_ui_and_redoc_render_without_internet(world: World, tmp_path: Path) -> None:
    base = str(world.api.base_url).rstrip("/")
    openapi = (await world.api.get("/openapi.json")).json()
    operations = sum(len(methods) for methods in openapi["paths"].values())
    async with offline_browser(tmp_path / "profile") as browser:
        page = await browser.context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))

        await page.goto(f"{base}/docs")
        await page.locator(".swagger-ui .info .title").wait_for(timeout=WAIT_MS)
        assert "ML Prediction Service" in await page.locator(".info .title").inner_text()
        await page.locator(".opblock").first.wait_for(timeout=WAIT_MS)
        assert await page.locator(".opblock").count() == operations
        predict = page.locator(".opblock-post", has_text="/api/predict").first
        await predict.locator(".opblock-summary").click()  # opens: the UI is interactive
        await predict.get_by_text("Try it out").wait_for(timeout=WAIT_MS)

        await page.goto(f"{base}/redoc")
        await page.get_by_text("/api/predictions/latest/{coin_id}").first.wait_for(
            state="attached", timeout=WAIT_MS
        )
        await page.close()
    assert not browser.blocked, f"the docs wanted to load from outside: {browser.blocked}"
    assert not errors, errors
