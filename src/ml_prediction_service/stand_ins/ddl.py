"""Stand-in DDL for the external tables (contract §1-3), and the phases it seeds.

The DDL itself is ``db/sql/stand_ins/external_schema.sql``, run by ``db/external_repo.py``.

Created automatically only on the embedded database, or on explicit request
(``ml-prediction-service dev-schema``): never silently on an external database.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from ml_prediction_service.db import external_repo

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


# The seed rows of the stand-in DDL, for the simulator (a test checks both agree).
PHASES: tuple[Phase, ...] = (
    Phase(1, "Baby Zone", 5, 0, 10),
    Phase(2, "Survival Zone", 30, 10, 60),
    Phase(3, "Mature Zone", 60, 60, 1440),
    Phase(99, "Finished", 0, 1440, 999999),
    Phase(100, "Graduated", 0, 1440, 999999),
)
PHASE_FINISHED = 99
PHASE_GRADUATED = 100


async def create_dev_schema(conn: asyncpg.Connection) -> list[str]:
    """Create the stand-in tables (idempotent); return the names of tables that were new.

    Runs under a transaction-level advisory lock, so concurrent callers are safe.
    """
    return await external_repo.create_tables(
        conn, lock_key=DEV_SCHEMA_LOCK_KEY, tables=EXTERNAL_TABLES
    )


async def missing_tables(conn: asyncpg.Connection) -> list[str]:
    """Names of the external tables that do not exist in the connection's search path."""
    return await external_repo.missing_tables(conn, EXTERNAL_TABLES)
