"""The stand-in tables on demand, for the stand-in commands (``cli/stand_ins.py``) and the
demo: :func:`ensure_tables`, :func:`install_trigger_if_migrated`, :func:`default_models_dir`.

The stand-in tables are created automatically only on the embedded database (``DB_DSN``
unset) or by the explicit ``dev-schema`` command - never silently on an external database.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import asyncpg

from ml_prediction_service.config import Settings
from ml_prediction_service.errors import CommandError
from ml_prediction_service.stand_ins.ddl import create_dev_schema, missing_tables


async def install_trigger_if_migrated(conn: asyncpg.Connection) -> str:
    """Install the service's coin_metrics trigger when the service schema is present."""
    from ml_prediction_service.db.schema import install_coin_metrics_trigger, schema_version

    if await schema_version(conn) is None:
        return "service schema not migrated yet: run `ml-prediction-service migrate`"
    status = await install_coin_metrics_trigger(conn)
    if status.installed:
        return f"installed ({status.mode}-level)"
    return f"not installed: {status.reason}"


async def ensure_tables(
    conn: asyncpg.Connection, settings: Settings, needed: Sequence[str]
) -> list[str]:
    """Make sure the external tables ``needed`` exist; return the tables created.

    Embedded database: create the stand-in schema. External database: a clear error.
    """
    missing = [t for t in await missing_tables(conn) if t in needed]
    if not missing:
        return []
    if settings.db_dsn:
        raise CommandError(
            f"table(s) {', '.join(missing)} do not exist in the database at DB_DSN. They "
            "belong to the collector / training service; on a development database create "
            "stand-ins with `ml-prediction-service dev-schema`"
        )
    created = await create_dev_schema(conn)
    if "coin_metrics" in created:
        await install_trigger_if_migrated(conn)
    return created


def default_models_dir(settings: Settings) -> Path:
    """Where the training-service stand-in keeps its model files (not the service's own)."""
    return settings.data_dir / "training-service" / "models"
