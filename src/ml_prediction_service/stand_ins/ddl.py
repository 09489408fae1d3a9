"""Stand-in DDL for the external tables (contract §1-3).

Created automatically only on the embedded database, or on explicit request
(``ml-prediction-service dev-schema``): never silently on an external database.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

import asyncpg

# Arbitrary constant identifying the stand-in schema's advisory lock.
DEV_SCHEMA_LOCK_KEY = 7_331_101

EXTERNAL_TABLES: tuple[str, ...] = ("coin_metrics", "ref_coin_phases", "ml_models")


@dataclass(frozen=True)
class Phase:
    """One row of ``ref_coin_phases`` (contract §2)."""

    id: int
    name: str
    interval_seconds: int
    min_age_minutes: int
    max_age_minutes: int


# The seed rows of external_schema.sql, for the simulator (a test checks both agree).
PHASES: tuple[Phase, ...] = (
    Phase(1, "Baby Zone", 5, 0, 10),
    Phase(2, "Survival Zone", 30, 10, 60),
    Phase(3, "Mature Zone", 60, 60, 1440),
    Phase(99, "Finished", 0, 1440, 999999),
    Phase(100, "Graduated", 0, 1440, 999999),
)
PHASE_FINISHED = 99
PHASE_GRADUATED = 100


@cache
def external_schema_sql() -> str:
    """Text of ``stand_ins/sql/external_schema.sql``."""
    return (
        resources.files("ml_prediction_service.stand_ins")
        .joinpath("sql", "external_schema.sql")
        .read_text("utf-8")
    )


async def create_dev_schema(conn: asyncpg.Connection) -> list[str]:
    """Create the stand-in tables (idempotent); return the names of tables that were new.

    Runs under a transaction-level advisory lock, so concurrent callers are safe.
    """
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", DEV_SCHEMA_LOCK_KEY)
        before = await missing_tables(conn)
        await conn.execute(external_schema_sql())
    return before


async def missing_tables(conn: asyncpg.Connection) -> list[str]:
    """Names of the external tables that do not exist in the connection's search path."""
    missing: list[str] = []
    for name in EXTERNAL_TABLES:
        if await conn.fetchval("SELECT to_regclass($1)", name) is None:
            missing.append(name)
    return missing
