"""Shared fixtures. Real PostgreSQL only: one server per run, a fresh database per test."""

from __future__ import annotations

import asyncio
import atexit
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from ml_prediction_service.db.pool import create_pool
from tests.support.pg import PgTestServer, start_test_server, with_database

# Fixtures that several test folders use, registered once for the whole suite:
# ``trained``, ``training_url``, ``world`` (tests/support/world.py) and ``pinned_python``; and
# the summary line of tests skipped for a missing program (tests/support/missing_tools.py).
pytest_plugins = ["tests.support.world", "tests.support.pinned", "tests.support.missing_tools"]


UI_TESTS = Path(__file__).parent / "ui"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under pytest-xdist (``-n``, pyproject.toml) the UI tests run on one worker: they
    share one running system (``world_ui``), which would otherwise start on every worker."""
    for item in items:
        if UI_TESTS in item.path.parents:
            item.add_marker(pytest.mark.xdist_group("ui"))


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgTestServer]:
    # Not under pytest's basetemp: pytest deletes old basetemps when later sessions start,
    # which would pull the data directory from under a concurrent run's server.
    folder = Path(tempfile.mkdtemp(prefix="mps-test-pg-"))
    atexit.register(shutil.rmtree, folder, True)  # runs after the server stopped (LIFO)
    server = start_test_server(folder)
    yield server
    asyncio.run(server.drop_template())


@pytest.fixture
def db_dsn(pg_server: PgTestServer) -> Iterator[str]:
    """DSN of a fresh, migrated database that only this test uses."""
    name = asyncio.run(pg_server.create_database())
    yield with_database(pg_server.admin_dsn, name)
    asyncio.run(pg_server.drop_database(name))


@pytest.fixture
async def pool(db_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(db_dsn, min_size=1, max_size=4, connect_timeout=10)
    yield p
    await p.close()
