"""Service-wide settings kept in the database: the defaults for newly imported models."""

from __future__ import annotations

from typing import Any

import asyncpg

from ml_prediction_service.db.pool import Executor
from ml_prediction_service.models.defaults import ModelDefaults

_COLUMNS = (
    "alert_threshold",
    "webhook_url",
    "webhook_enabled",
    "webhook_send_mode",
    "ignore_alert_seconds",
    "ignore_positive_seconds",
    "ignore_negative_seconds",
    "coin_filter_mode",
    "coin_filter",
)

GET = f"SELECT {', '.join(_COLUMNS)} FROM prediction_model_defaults WHERE id"

UPSERT = f"""
INSERT INTO prediction_model_defaults (id, {", ".join(_COLUMNS)}, updated_at)
VALUES (true, {", ".join(f"${i}" for i in range(1, len(_COLUMNS) + 1))}, now())
ON CONFLICT (id) DO UPDATE SET
    {", ".join(f"{c} = EXCLUDED.{c}" for c in _COLUMNS)}, updated_at = now()
"""


async def model_defaults(conn: Executor, env_threshold: float) -> ModelDefaults:
    row = await conn.fetchrow(GET)
    if row is None:
        return ModelDefaults(alert_threshold=env_threshold)
    values: dict[str, Any] = dict(row)
    return ModelDefaults(
        alert_threshold=float(values["alert_threshold"])
        if values["alert_threshold"] is not None
        else env_threshold,
        webhook_url=values["webhook_url"],
        webhook_enabled=bool(values["webhook_enabled"]),
        webhook_send_mode=tuple(values["webhook_send_mode"] or ("all",)),
        ignore_alert_seconds=int(values["ignore_alert_seconds"]),
        ignore_positive_seconds=int(values["ignore_positive_seconds"]),
        ignore_negative_seconds=int(values["ignore_negative_seconds"]),
        coin_filter_mode=str(values["coin_filter_mode"]),
        coin_filter=tuple(values["coin_filter"] or ()),
        stored=True,
    )


async def save_model_defaults(conn: asyncpg.Connection, defaults: ModelDefaults) -> None:
    await conn.execute(
        UPSERT,
        defaults.alert_threshold,
        *defaults.delivery_values(),
    )
