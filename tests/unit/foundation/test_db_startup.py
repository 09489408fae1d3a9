"""Reaching the database at start-up (``db/startup.py``): which DSNs are refused before
connecting, which errors are retried, and the one line each failure becomes."""

from __future__ import annotations

import socket

import asyncpg
import pytest

from ml_prediction_service.db.startup import (
    DatabaseUnavailableError,
    check_dsn,
    explain,
    open_with_retry,
    redact,
)

DSN = "postgresql://app:s3cret@db.example:5432/crypto"


@pytest.mark.parametrize(
    "dsn",
    [
        "postgresql://u@h/db",
        "postgres://u:p@h:5432/db",
        "postgresql://u@h1:5432,h2:5433/db",
        "postgresql://u@[::1]:5432/db",
        "postgresql://postgres:@/postgres?host=/tmp/x/pgdata",
    ],
)
def test_postgresql_urls_pass(dsn: str) -> None:
    check_dsn(dsn)


@pytest.mark.parametrize(
    ("dsn", "fragment"),
    [
        ("notadsn", "not a PostgreSQL URL"),
        ("mysql://u@h/db", "not a PostgreSQL URL"),
        ("host=h dbname=db", "not a PostgreSQL URL"),
        ("postgresql://u@h:99999/db", "invalid port '99999'"),
        ("postgresql://u@h:port/db", "invalid port 'port'"),
    ],
)
def test_other_dsns_are_refused_with_one_line_naming_db_dsn(dsn: str, fragment: str) -> None:
    with pytest.raises(DatabaseUnavailableError) as info:
        check_dsn(dsn)
    message = str(info.value)
    assert message.startswith("DB_DSN=")
    assert fragment in message
    assert "postgresql://user:password@host:5432/database" in message
    assert "\n" not in message


def test_the_password_is_never_shown() -> None:
    assert redact(DSN) == "postgresql://app:***@db.example:5432/crypto"
    assert redact("postgresql://u@h/db") == "postgresql://u@h/db"
    with pytest.raises(DatabaseUnavailableError) as info:
        check_dsn("mysql://app:s3cret@h/db")
    assert "s3cret" not in str(info.value)


@pytest.mark.parametrize(
    ("exc", "fragments"),
    [
        (
            ConnectionRefusedError(111, "Connection refused"),
            ["connection refused", "host and port"],
        ),
        (socket.gaierror(-2, "Name or service not known"), ["host unknown", "fix the host"]),
        (TimeoutError(), ["no answer in time"]),
        (asyncpg.InvalidPasswordError("password authentication failed"), ["password in DB_DSN"]),
        (asyncpg.InvalidAuthorizationSpecificationError('role "x"'), ["fix the user in DB_DSN"]),
        (asyncpg.InvalidCatalogNameError('database "x" does not exist'), ["createdb"]),
    ],
)
def test_each_failure_says_what_to_do(exc: BaseException, fragments: list[str]) -> None:
    line = explain(exc, DSN)
    assert "db.example:5432" in line and "s3cret" not in line and "\n" not in line
    for fragment in fragments:
        assert fragment in line


async def test_a_refused_connection_is_retried_until_it_works() -> None:
    attempts = []

    async def open_() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise ConnectionRefusedError(111, "Connection refused")
        return "connected"

    assert await open_with_retry(open_, DSN, connect_timeout=30) == "connected"
    assert len(attempts) == 3


@pytest.mark.parametrize(
    "exc",
    [
        asyncpg.InvalidPasswordError("password authentication failed"),
        asyncpg.InvalidCatalogNameError('database "x" does not exist'),
        asyncpg.ClientConfigurationError("invalid DSN"),
    ],
)
async def test_what_retrying_cannot_fix_fails_at_the_first_attempt(exc: Exception) -> None:
    attempts = []

    async def open_() -> str:
        attempts.append(1)
        raise exc

    with pytest.raises(DatabaseUnavailableError):
        await open_with_retry(open_, DSN, connect_timeout=30)
    assert len(attempts) == 1


async def test_giving_up_names_the_timeout_setting(caplog: pytest.LogCaptureFixture) -> None:
    async def open_() -> str:
        raise ConnectionRefusedError(111, "Connection refused")

    with pytest.raises(DatabaseUnavailableError) as info:
        await open_with_retry(open_, DSN, connect_timeout=0.5)
    assert "DB_CONNECT_TIMEOUT_SECONDS" in str(info.value)
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1  # one line for all the retries, not one per attempt
