"""The browser of the suite's browser tests: Chromium found on ``PATH`` (Debian's
``chromium`` here), the arguments every test launches it with, the skip marker for a machine
without it, and :func:`offline_browser` (Playwright, async API) for pages the service serves
itself: every request that is not for 127.0.0.1 is aborted and recorded."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests.support.missing_tools import find_program, needs

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM = find_program(*CHROMIUM_NAMES)
NEEDS_CHROMIUM = needs(
    f"Chromium (the browser tests look for {', '.join(CHROMIUM_NAMES)} on PATH)",
    CHROMIUM,
    "apt-get install -y chromium",
)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]


@dataclass
class OfflineBrowser:
    context: Any  # playwright.async_api.BrowserContext
    blocked: list[str] = field(default_factory=list)  # requests that would have left


@asynccontextmanager
async def offline_browser(profile: Path) -> AsyncIterator[OfflineBrowser]:
    """A fresh Chromium profile in ``profile`` that can only reach 127.0.0.1."""
    from playwright.async_api import Route, async_playwright

    async with async_playwright() as pw:
        context = await pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1800},
        )
        browser = OfflineBrowser(context)

        async def only_local(route: Route) -> None:
            url = route.request.url
            if urlsplit(url).hostname == "127.0.0.1" or url.startswith(("data:", "blob:")):
                await route.continue_()
            else:
                browser.blocked.append(url)
                await route.abort("internetdisconnected")

        await context.route("**/*", only_local)
        try:
            yield browser
        finally:
            await context.close()
