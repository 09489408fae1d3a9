"""Reaching the database at start-up: check the DSN, retry what may pass (nothing listening
yet, the server still starting), fail at once on what will not (a bad DSN, a wrong password,
a missing database), and say in one line what failed and what to do.

:class:`DatabaseUnavailableError` is a :class:`~ml_prediction_service.errors.CommandError`,
so a command prints it as one line; :func:`explain` words any connection error that way.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar
from urllib.parse import SplitResult, urlsplit, urlunsplit

import asyncpg

from ml_prediction_service.errors import CommandError

logger = logging.getLogger(__name__)

T = TypeVar("T")

SCHEMES = ("postgresql", "postgres")
EXAMPLE = "postgresql://user:password@host:5432/database"

# The database, or the network to it, is not there right now (db/pool.py's CONNECTION_ERRORS
# adds the driver's InterfaceError for a running service).
TRANSIENT: tuple[type[Exception], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
)
# What may pass on its own at start-up: the transient errors, or a server that is full.
# Everything else (bad DSN, authentication, unknown database) fails at once.
RETRYABLE: tuple[type[Exception], ...] = (*TRANSIENT, asyncpg.TooManyConnectionsError)


class DatabaseUnavailableError(CommandError):
    """The database could not be used at start-up; the message says why and what to do."""


def redact(dsn: str) -> str:
    """The DSN with its password replaced by ``***`` (safe to print and log)."""
    try:
        parts = urlsplit(dsn)
    except ValueError:
        return "<unparsable DSN>"
    if parts.password is None:
        return dsn
    user, _, hosts = parts.netloc.rpartition("@")
    name = user.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{name}:***@{hosts}"))


def _ports(parts: SplitResult) -> list[str]:
    """The port texts of a (possibly multi-host) DSN's netloc."""
    hosts = parts.netloc.rpartition("@")[2]
    ports = []
    for host in hosts.split(","):
        text = host.rsplit("]", 1)[-1]  # [::1]:5432
        if ":" in text:
            ports.append(text.rsplit(":", 1)[1])
    return ports


def check_dsn(dsn: str, variable: str = "DB_DSN") -> None:
    """Refuse a DSN that cannot be a PostgreSQL URL, before anything connects."""
    shown = redact(dsn)
    try:
        parts = urlsplit(dsn)
    except ValueError as exc:
        raise DatabaseUnavailableError(f"{variable} is not a URL ({exc}), e.g. {EXAMPLE}") from None
    if parts.scheme not in SCHEMES:
        raise DatabaseUnavailableError(
            f"{variable}={shown!r} is not a PostgreSQL URL (it must start with postgresql://), "
            f"e.g. {EXAMPLE}"
        )
    for port in _ports(parts):
        if port and not (port.isdigit() and 1 <= int(port) <= 65535):
            raise DatabaseUnavailableError(
                f"{variable}={shown!r} has an invalid port {port!r} (1-65535), e.g. {EXAMPLE}"
            )


def explain(exc: BaseException, dsn: str) -> str:
    """One line: what failed when connecting to ``dsn`` and what to do about it."""
    at = f"at {redact(dsn)}"
    if isinstance(exc, asyncpg.ClientConfigurationError):
        return f"invalid database DSN {redact(dsn)!r}: {exc}; fix DB_DSN, e.g. {EXAMPLE}"
    if isinstance(exc, asyncpg.InvalidPasswordError):
        return f"the database {at} refused the login: {exc}; fix the password in DB_DSN"
    if isinstance(exc, asyncpg.InvalidAuthorizationSpecificationError):
        return (
            f"the database {at} refused the login: {exc}; fix the user in DB_DSN "
            "(or allow it in the server's pg_hba.conf)"
        )
    if isinstance(exc, asyncpg.InvalidCatalogNameError):
        return (
            f"the database {at} is not there: {exc}; create it (createdb NAME) or fix the "
            "database name in DB_DSN"
        )
    if isinstance(exc, socket.gaierror):
        return f"database host unknown {at}: {exc.strerror}; fix the host in DB_DSN"
    if isinstance(exc, ConnectionRefusedError):
        return (
            f"database not reachable {at}: connection refused; is PostgreSQL running there? "
            "(check host and port in DB_DSN)"
        )
    if isinstance(exc, TimeoutError):
        return f"database not reachable {at}: no answer in time (check host and port in DB_DSN)"
    if isinstance(exc, OSError):
        return f"database not reachable {at}: {exc.strerror or exc} (check DB_DSN)"
    if isinstance(exc, asyncpg.PostgresError):
        return f"the database {at} refused: {exc} (SQLSTATE {exc.sqlstate})"
    return f"cannot use the database {at}: {type(exc).__name__}: {exc}"


async def open_with_retry(
    open_: Callable[[], Awaitable[T]], dsn: str, *, connect_timeout: float
) -> T:
    """``await open_()`` until it succeeds, retrying retryable errors with exponential backoff
    for ``connect_timeout`` seconds; raise :class:`DatabaseUnavailableError` otherwise.

    Logs one warning at the first failure that will be retried (the rest at DEBUG), so that an
    unreachable database costs two lines, not one per attempt.
    """
    deadline = time.monotonic() + connect_timeout
    delay = 0.2
    for attempt in range(1, 10_000):  # bounded by the deadline long before this
        try:
            result = await open_()
        except Exception as exc:
            reason = explain(exc, dsn)
            if not isinstance(exc, RETRYABLE):
                raise DatabaseUnavailableError(reason) from exc
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DatabaseUnavailableError(
                    f"{reason}; gave up after {attempt} attempts in {connect_timeout:g}s "
                    "(DB_CONNECT_TIMEOUT_SECONDS)"
                ) from exc
            log = logger.warning if attempt == 1 else logger.debug
            log("%s; retrying for up to %.0fs (DB_CONNECT_TIMEOUT_SECONDS)", reason, remaining)
            await asyncio.sleep(min(delay, remaining))
            delay = min(delay * 2, 5.0)
            continue
        if attempt > 1:
            logger.info("database reachable after %d attempts", attempt)
        return result
    raise DatabaseUnavailableError(f"database not reachable at {redact(dsn)}")


def is_database_error(exc: BaseException) -> bool:
    """Whether ``exc`` came from talking to PostgreSQL: asyncpg's own errors, or a network
    error raised inside asyncpg (connection refused, timeout, unknown host)."""
    if isinstance(exc, asyncpg.PostgresError | asyncpg.InterfaceError):
        return True
    if isinstance(exc, OSError):  # TimeoutError and socket.gaierror included
        tb = exc.__traceback__
        for _ in range(1000):  # bounded walk down the traceback
            if tb is None:
                break
            if "asyncpg" in tb.tb_frame.f_code.co_filename.split("/"):
                return True
            tb = tb.tb_next
    return False
