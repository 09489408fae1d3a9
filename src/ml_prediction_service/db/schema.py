"""Schema management: versioned migrations and the coin_metrics trigger.

Migrations run under a transaction-level advisory lock, so running them twice or from
several processes at once is safe: the second runner waits, then finds nothing to do.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

import asyncpg

from ml_prediction_service.db import partitions
from ml_prediction_service.db.sqlfiles import load_sql, migration_files

logger = logging.getLogger(__name__)

# Arbitrary constants identifying this service's advisory locks.
MIGRATION_LOCK_KEY = 7_331_001
TRIGGER_LOCK_KEY = 7_331_002

TRIGGER_NAME = "coin_metrics_insert_trigger"
NOTIFY_CHANNEL = "coin_metrics_insert"

_CREATE_MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS prediction_schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW()
)
"""


async def migrate(
    conn: asyncpg.Connection,
    *,
    up_to: int | None = None,
    partition_interval: timedelta = partitions.DEFAULT_INTERVAL,
    partitions_ahead: int = partitions.DEFAULT_AHEAD,
    partition_max_bytes: int | None = partitions.INLINE_MAX_BYTES,
) -> list[str]:
    """Apply every pending migration; return the names applied (empty when up to date).

    Then the growing tables are partitioned (``db/partitions.convert_all``, outside the
    migrations' transaction: a table with rows is converted with CONCURRENTLY index builds):
    each one up to ``partition_max_bytes`` (None: any size, ``migrate --partition``). With
    ``up_to`` only the migrations up to that version run, and nothing is partitioned (the
    schema as it was then).
    """
    applied_now: list[str] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK_KEY)
        await conn.execute(_CREATE_MIGRATIONS_TABLE)
        done = {
            r["version"]
            for r in await conn.fetch("SELECT version FROM prediction_schema_migrations")
        }
        for version, name, sql in migration_files():
            if version in done or (up_to is not None and version > up_to):
                continue
            await conn.execute(sql)
            await conn.execute(
                "INSERT INTO prediction_schema_migrations (version, name) VALUES ($1, $2)",
                version,
                name,
            )
            applied_now.append(name)
    if applied_now:
        logger.info("applied migrations: %s", ", ".join(applied_now))
    if up_to is None:
        await partitions.convert_all(
            conn,
            interval=partition_interval,
            ahead=partitions_ahead,
            max_bytes=partition_max_bytes,
        )
    return applied_now


async def schema_version(conn: asyncpg.Connection) -> int | None:
    """Highest applied migration version, or None when never migrated."""
    exists = await conn.fetchval("SELECT to_regclass('prediction_schema_migrations')")
    if exists is None:
        return None
    value = await conn.fetchval("SELECT max(version) FROM prediction_schema_migrations")
    return int(value) if value is not None else None


TriggerMode = Literal["statement", "row"]


@dataclass(frozen=True)
class TriggerStatus:
    """Whether coin_metrics carries our trigger, and if not, why."""

    installed: bool
    mode: TriggerMode | None = None
    reason: str | None = None


async def trigger_status(conn: asyncpg.Connection) -> TriggerStatus:
    """Inspect coin_metrics and its trigger without changing anything."""
    if await conn.fetchval("SELECT to_regclass('coin_metrics')") is None:
        return TriggerStatus(False, reason="table coin_metrics does not exist (yet)")
    row = await conn.fetchrow(
        """
        SELECT t.tgtype, t.tgenabled::text AS tgenabled
          FROM pg_trigger t
         WHERE t.tgrelid = to_regclass('coin_metrics')
           AND t.tgname = $1
           AND NOT t.tgisinternal
        """,
        TRIGGER_NAME,
    )
    if row is None:
        return TriggerStatus(False, reason=f"trigger {TRIGGER_NAME} is not installed")
    mode: TriggerMode = "row" if row["tgtype"] & 1 else "statement"
    if row["tgenabled"] == "D":
        return TriggerStatus(False, mode=mode, reason=f"trigger {TRIGGER_NAME} is disabled")
    return TriggerStatus(True, mode=mode)


async def install_coin_metrics_trigger(conn: asyncpg.Connection) -> TriggerStatus:
    """Install (or refresh) the trigger on coin_metrics if that table exists.

    Prefers a statement-level trigger with a transition table; falls back to a row-level
    trigger where the table does not support transition tables. Never raises for a missing
    table or missing privileges: the returned status says what happened.
    """
    current = await trigger_status(conn)
    if current.reason and "does not exist" in current.reason:
        return current
    if current.mode is not None and not current.installed:
        return current  # disabled on purpose by someone: respect it, report it
    try:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", TRIGGER_LOCK_KEY)
            await conn.execute(load_sql("coin_metrics_trigger.sql"))
            if current.installed:
                return current
            await conn.execute(f"DROP TRIGGER IF EXISTS {TRIGGER_NAME} ON coin_metrics")
            mode: TriggerMode = "statement"
            try:
                async with conn.transaction():
                    await conn.execute(
                        f"CREATE TRIGGER {TRIGGER_NAME} AFTER INSERT ON coin_metrics "
                        "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
                        "EXECUTE FUNCTION notify_coin_metrics_insert()"
                    )
            except asyncpg.FeatureNotSupportedError as exc:
                logger.info("statement-level trigger not supported (%s); using row-level", exc)
                mode = "row"
                await conn.execute(
                    f"CREATE TRIGGER {TRIGGER_NAME} AFTER INSERT ON coin_metrics "
                    "FOR EACH ROW EXECUTE FUNCTION notify_coin_metrics_insert()"
                )
    except asyncpg.InsufficientPrivilegeError as exc:
        reason = f"no privilege to install trigger on coin_metrics: {exc}"
        return TriggerStatus(False, reason=reason)
    logger.info("installed %s-level trigger %s on coin_metrics", mode, TRIGGER_NAME)
    return TriggerStatus(True, mode=mode)
