"""LISTEN on a dedicated connection: the one mechanism behind every notification consumer
(the pipeline's wake-up listener, the model registry's change listener).

Notifications are hints; the tables are the truth, so a consumer re-reads what it needs
after every (re)connect. A lost connection (termination callback, or a failed ping) raises
:class:`ConnectionError` from :meth:`Listening.watch` / :meth:`Listening.raise_if_lost`; the
task's supervisor reconnects with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import asyncpg

from ml_prediction_service.db.pool import connect


class Listening:
    def __init__(self, conn: asyncpg.Connection, channel: str) -> None:
        self.conn = conn
        self.channel = channel
        self.lost = asyncio.Event()

    def raise_if_lost(self) -> None:
        if self.lost.is_set() or self.conn.is_closed():
            raise ConnectionError(f"LISTEN connection for {self.channel} lost")

    async def watch(self, interval: float) -> None:
        """Wait up to ``interval`` seconds; raise if the connection was lost meanwhile, and
        ping it otherwise (a half-open connection shows up as a failed ping)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.lost.wait(), interval)
        self.raise_if_lost()
        await asyncio.wait_for(self.conn.fetchval("SELECT 1"), 5)


@contextlib.asynccontextmanager
async def listening(
    dsn: str, channel: str, on_payload: Callable[[str], None], *, connect_timeout: float = 10
) -> AsyncIterator[Listening]:
    """A connection LISTENing on ``channel``; ``on_payload`` gets each payload."""
    conn: asyncpg.Connection = await connect(dsn, timeout=connect_timeout)
    state = Listening(conn, channel)
    try:
        conn.add_termination_listener(lambda *_: state.lost.set())
        await conn.add_listener(channel, lambda _c, _pid, _ch, payload: on_payload(payload))
        yield state
    finally:
        if not conn.is_closed():
            conn.terminate()
