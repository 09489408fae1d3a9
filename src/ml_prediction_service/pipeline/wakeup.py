"""A wake-up signal for several waiters: ``set()`` wakes every subscriber."""

from __future__ import annotations

import asyncio


class Broadcast:
    def __init__(self) -> None:
        self._events: list[asyncio.Event] = []

    def subscribe(self) -> asyncio.Event:
        event = asyncio.Event()
        self._events.append(event)
        return event

    def set(self) -> None:
        for event in self._events:
            event.set()
