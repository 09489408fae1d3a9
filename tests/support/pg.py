"""One PostgreSQL server per test run; one fresh database per test, cloned from a migrated
template. ``TEST_DB_DSN`` may point at an existing server (its role must be able to create
databases); otherwise an embedded server is started in a temporary directory."""

from __future__ import annotations

import asyncio
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from ml_prediction_service.db.pool import connect
from ml_prediction_service.db.schema import migrate


def with_database(dsn: str, database: str) -> str:
    """The same DSN pointing at another database."""
    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


@dataclass
class PgTestServer:
    admin_dsn: str
    template: str
    pgdata: Path | None = None

    async def _admin(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.admin_dsn)

    async def create_template(self) -> None:
        conn = await self._admin()
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{self.template}"')
        finally:
            await conn.close()
        tconn = await connect(with_database(self.admin_dsn, self.template))
        try:
            await migrate(tconn)
        finally:
            await tconn.close()

    async def create_database(self) -> str:
        name = f"t_{uuid.uuid4().hex[:16]}"
        conn = await self._admin()
        try:
            await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        finally:
            await conn.close()
        return name

    async def drop_database(self, name: str) -> None:
        conn = await self._admin()
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    async def drop_template(self) -> None:
        await self.drop_database(self.template)


def start_test_server(tmp_dir: Path) -> PgTestServer:
    template = f"mps_template_{os.getpid()}"
    external = os.environ.get("TEST_DB_DSN")
    if external:
        server = PgTestServer(admin_dsn=external, template=template)
    else:
        from ml_prediction_service.db.embedded import start_embedded

        db = start_embedded(tmp_dir, cleanup="delete")
        server = PgTestServer(admin_dsn=db.dsn, template=template, pgdata=db.pgdata)
    asyncio.run(server.create_template())
    return server
