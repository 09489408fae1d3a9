"""asyncpg pool with the service's codecs and start-up retry.

Codecs are the boundary: NUMERIC arrives as ``float`` (never ``Decimal``) and JSON/JSONB
are encoded/decoded exactly once, so callers pass and receive plain Python objects.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from ml_prediction_service import jsoncodec
from ml_prediction_service.db.startup import TRANSIENT, check_dsn, open_with_retry

# Errors that mean "the database (or the network to it) is not there right now": expected in
# a long-running service, answered with 503s, reconnects and backoff rather than crashes.
CONNECTION_ERRORS: tuple[type[Exception], ...] = (*TRANSIENT, asyncpg.InterfaceError)


# What a failed database call raises: the connection errors, or PostgreSQL refusing a query.
DB_ERRORS: tuple[type[Exception], ...] = (*CONNECTION_ERRORS, asyncpg.PostgresError)

# Where a read needs no transaction, a pool serves as well as one connection.
Executor = asyncpg.Connection | asyncpg.Pool


def _encode_numeric(value: Any) -> str:
    return str(value)


async def init_connection(conn: asyncpg.Connection) -> None:
    """Install the codecs on a fresh connection (pool ``init`` hook)."""
    await conn.set_type_codec(
        "numeric",
        schema="pg_catalog",
        encoder=_encode_numeric,
        decoder=float,
        format="text",
    )
    for name in ("json", "jsonb"):
        await conn.set_type_codec(
            name,
            schema="pg_catalog",
            encoder=jsoncodec.dumps_text,
            decoder=jsoncodec.loads,
            format="text",
        )


async def connect(dsn: str, **kwargs: Any) -> asyncpg.Connection:
    """One dedicated connection with the same codecs as the pool (e.g. the listener)."""
    conn: asyncpg.Connection = await asyncpg.connect(dsn, **kwargs)
    await init_connection(conn)
    return conn


async def connect_at_startup(dsn: str, *, connect_timeout: float = 30.0) -> asyncpg.Connection:
    """:func:`connect` for a command's start-up: the DSN checked, retries as
    :func:`create_pool`, and a one-line ``DatabaseUnavailableError`` when it fails."""
    check_dsn(dsn)
    per_attempt = min(10.0, max(1.0, connect_timeout))
    return await open_with_retry(
        lambda: connect(dsn, timeout=per_attempt), dsn, connect_timeout=connect_timeout
    )


async def create_pool(
    dsn: str,
    *,
    min_size: int = 1,
    max_size: int = 10,
    connect_timeout: float = 30.0,
    application_name: str = "ml-prediction-service",
) -> asyncpg.Pool:
    """Create the pool, retrying with exponential backoff until ``connect_timeout`` passes;
    errors that retrying cannot fix (bad DSN, wrong password, no such database) fail at once.
    Raises ``db.startup.DatabaseUnavailableError`` (one line: what failed, what to do)."""
    check_dsn(dsn)

    async def open_pool() -> asyncpg.Pool:
        pool: asyncpg.Pool = await asyncpg.create_pool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            init=init_connection,
            command_timeout=60,
            timeout=min(10.0, max(1.0, connect_timeout)),
            server_settings={"application_name": application_name},
        )
        return pool

    return await open_with_retry(open_pool, dsn, connect_timeout=connect_timeout)
