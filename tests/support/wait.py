"""The one way tests wait for something: poll a predicate until it holds or time runs out.

``eventually`` (async) and ``eventually_sync`` (for synchronous tests) call ``predicate``
every ``interval`` seconds for at most ``seconds`` and return its last value: truthy as soon
as it held, else the falsy value of the last try. The caller asserts on it (with a message),
so a timeout is a clear test failure, never a hang. Exceptions listed in ``ignore`` count as
"not yet" (e.g. connection errors while a server starts).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


async def eventually(
    predicate: Callable[[], Awaitable[T] | T],
    seconds: float = 10.0,
    *,
    interval: float = 0.05,
    ignore: tuple[type[BaseException], ...] = (),
) -> T | Any:
    """Await/call ``predicate()`` until it returns something truthy; return the last value."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        value: Any = None
        try:
            value = predicate()
            if inspect.isawaitable(value):
                value = await value
        except ignore:
            value = None
        if value or loop.time() > deadline:
            return value
        await asyncio.sleep(interval)


def eventually_sync(
    predicate: Callable[[], T],
    seconds: float = 10.0,
    *,
    interval: float = 0.1,
    ignore: tuple[type[BaseException], ...] = (),
) -> T | None:
    """``eventually`` for synchronous code (sleeps in this thread)."""
    deadline = time.monotonic() + seconds
    while True:
        value: T | None = None
        try:
            value = predicate()
        except ignore:
            value = None
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)
