"""Stand-in DDL of the tables other systems own (the collector's ``coin_metrics`` and
``ref_coin_phases``, the training service's ``ml_models``), and which of them exist.

Only the stand-ins call this (``stand_ins/ddl.py``): the service itself never creates or
changes these tables. The DDL is ``db/sql/stand_ins/external_schema.sql`` (idempotent).
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from ml_prediction_service.db.sqlfiles import load_sql

EXTERNAL_SCHEMA_SQL = "stand_ins/external_schema.sql"


async def create_tables(
    conn: asyncpg.Connection, *, lock_key: int, tables: Sequence[str]
) -> list[str]:
    """Run the stand-in DDL under the transaction-level advisory lock ``lock_key`` (so
    concurrent callers are safe); return those of ``tables`` that did not exist before."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", lock_key)
        before = await missing_tables(conn, tables)
        await conn.execute(load_sql(EXTERNAL_SCHEMA_SQL))
    return before


async def missing_tables(conn: asyncpg.Connection, tables: Sequence[str]) -> list[str]:
    """Those of ``tables`` that do not exist in the connection's search path."""
    missing: list[str] = []
    for name in tables:
        if await conn.fetchval("SELECT to_regclass($1)", name) is None:
            missing.append(name)
    return missing
