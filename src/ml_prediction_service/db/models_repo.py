"""Queries for model tables: ``prediction_active_models`` (ours, read as
:class:`ActiveModelRecord`) and ``ml_models`` (the training service's, read-only; its rows are
parsed by ``models/metadata.py``)."""

from __future__ import annotations

from typing import Any

import asyncpg

from ml_prediction_service.db.ml_models_repo import ML_MODELS_COLUMNS
from ml_prediction_service.db.pool import Executor
from ml_prediction_service.models.defaults import ModelDefaults
from ml_prediction_service.models.metadata import ActiveModelRecord, ModelSpec

MODELS_CHANGED_CHANNEL = "prediction_models_changed"

# Every ml_models column but deleted_at, which the service does not use (is_deleted suffices).
_ML_MODELS_COLUMNS = ", ".join(f"m.{c}" for c in ML_MODELS_COLUMNS if c != "deleted_at")

ACTIVE_COLUMNS = """
    id, model_id, model_name, custom_name, model_type, target_variable, target_operator,
    target_value, future_minutes, price_change_percent, target_direction, features, phases,
    params, local_model_path, model_file_url, is_active, last_prediction_at,
    total_predictions, downloaded_at, activated_at, created_at, updated_at, alert_threshold,
    model_sha256, model_file_size, source, description, training_metrics, webhook_url,
    webhook_enabled, webhook_send_mode, model_library, model_library_version,
    ignore_alert_seconds, ignore_positive_seconds, ignore_negative_seconds, coin_filter_mode,
    coin_filter
"""


async def ml_models_exists(conn: asyncpg.Connection) -> bool:
    return await conn.fetchval("SELECT to_regclass('ml_models') IS NOT NULL") is True


async def list_available(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    """READY, not deleted training-service models, with ``already_imported``/``active_model_id``."""
    rows = await conn.fetch(
        f"""
        SELECT {_ML_MODELS_COLUMNS}, a.id AS active_model_id
          FROM ml_models m
          LEFT JOIN prediction_active_models a ON a.model_id = m.id
         WHERE m.status = 'READY' AND m.is_deleted = false
         ORDER BY m.id
        """
    )
    return [dict(r) for r in rows]


async def get_ml_model(conn: asyncpg.Connection, model_id: int) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        f"SELECT {_ML_MODELS_COLUMNS} FROM ml_models m WHERE m.id = $1", model_id
    )
    return dict(row) if row is not None else None


async def next_upload_model_id(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval("SELECT nextval('prediction_uploaded_model_id_seq')"))


async def insert_active_model(
    conn: asyncpg.Connection,
    spec: ModelSpec,
    defaults: ModelDefaults,
    *,
    model_id: int,
    local_model_path: str,
    model_file_url: str | None,
    model_sha256: str,
    model_file_size: int,
    source: str,
    model_library: str,
    model_library_version: str,
) -> ActiveModelRecord:
    row = await conn.fetchrow(
        f"""
        INSERT INTO prediction_active_models (
            model_id, model_name, model_type, target_variable, target_operator, target_value,
            future_minutes, price_change_percent, target_direction, features, phases, params,
            description, training_metrics, alert_threshold, local_model_path, model_file_url,
            model_sha256, model_file_size, source, model_library, model_library_version,
            webhook_url, webhook_enabled, webhook_send_mode, ignore_alert_seconds,
            ignore_positive_seconds, ignore_negative_seconds, coin_filter_mode, coin_filter,
            activated_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
                $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, now())
        RETURNING {ACTIVE_COLUMNS}
        """,
        model_id,
        spec.name,
        spec.model_type,
        spec.target_variable,
        spec.target_operator,
        spec.target_value,
        spec.future_minutes,
        spec.price_change_percent,
        spec.target_direction,
        list(spec.features),
        list(spec.phases) if spec.phases is not None else None,
        dict(spec.params),
        spec.description,
        dict(spec.training_metrics) if spec.training_metrics else None,
        defaults.alert_threshold,
        local_model_path,
        model_file_url,
        model_sha256,
        model_file_size,
        source,
        model_library,
        model_library_version,
        *defaults.delivery_values(),
    )
    assert row is not None
    return ActiveModelRecord.from_row(row)


async def list_active_models(
    conn: asyncpg.Connection, *, include_inactive: bool = False
) -> list[ActiveModelRecord]:
    where = "" if include_inactive else "WHERE is_active"
    rows = await conn.fetch(
        f"SELECT {ACTIVE_COLUMNS} FROM prediction_active_models {where} ORDER BY id"
    )
    return [ActiveModelRecord.from_row(r) for r in rows]


async def get_active_model(conn: Executor, active_id: int) -> ActiveModelRecord | None:
    row = await conn.fetchrow(
        f"SELECT {ACTIVE_COLUMNS} FROM prediction_active_models WHERE id = $1", active_id
    )
    return ActiveModelRecord.from_row(row) if row is not None else None


async def get_by_model_id(conn: asyncpg.Connection, model_id: int) -> ActiveModelRecord | None:
    row = await conn.fetchrow(
        f"SELECT {ACTIVE_COLUMNS} FROM prediction_active_models WHERE model_id = $1", model_id
    )
    return ActiveModelRecord.from_row(row) if row is not None else None


async def set_active(
    conn: asyncpg.Connection, active_id: int, active: bool
) -> ActiveModelRecord | None:
    row = await conn.fetchrow(
        f"""
        UPDATE prediction_active_models
           SET is_active = $2,
               activated_at = CASE WHEN $2 AND NOT is_active THEN now() ELSE activated_at END,
               updated_at = now()
         WHERE id = $1
        RETURNING {ACTIVE_COLUMNS}
        """,
        active_id,
        active,
    )
    return ActiveModelRecord.from_row(row) if row is not None else None


# Columns the updates below may set: a fixed list, so no name from a request reaches SQL.
_SETTABLE = frozenset(
    {
        "custom_name",
        "description",
        "alert_threshold",
        "webhook_url",
        "webhook_enabled",
        "webhook_send_mode",
        "local_model_path",
        "model_sha256",
        "model_file_size",
        "model_library",
        "model_library_version",
        "ignore_alert_seconds",
        "ignore_positive_seconds",
        "ignore_negative_seconds",
        "coin_filter_mode",
        "coin_filter",
    }
)


async def _update(
    conn: asyncpg.Connection, active_id: int, values: dict[str, Any], *, extra: str = ""
) -> ActiveModelRecord | None:
    unknown = set(values) - _SETTABLE
    if unknown:
        raise ValueError(f"not settable: {sorted(unknown)}")
    if not values and not extra:
        return await get_active_model(conn, active_id)
    assignments = [f"{c} = ${i}" for i, c in enumerate(values, start=2)]
    row = await conn.fetchrow(
        f"UPDATE prediction_active_models SET {', '.join([*assignments, *filter(None, [extra])])}, "
        f"updated_at = now() WHERE id = $1 RETURNING {ACTIVE_COLUMNS}",
        active_id,
        *values.values(),
    )
    return ActiveModelRecord.from_row(row) if row is not None else None


async def update_columns(
    conn: asyncpg.Connection, active_id: int, values: dict[str, Any]
) -> ActiveModelRecord | None:
    """Set settable columns (of the fixed list above) of one model."""
    return await _update(conn, active_id, values)


async def rename(
    conn: asyncpg.Connection, active_id: int, changes: dict[str, Any]
) -> ActiveModelRecord | None:
    """Update custom_name (None: the model's own name) and/or description."""
    allowed = ("custom_name", "description")
    return await _update(conn, active_id, {c: changes[c] for c in allowed if c in changes})


async def set_alert_threshold(
    conn: asyncpg.Connection, active_id: int, threshold: float
) -> ActiveModelRecord | None:
    return await _update(conn, active_id, {"alert_threshold": threshold})


async def set_webhook(
    conn: asyncpg.Connection, active_id: int, changes: dict[str, Any]
) -> ActiveModelRecord | None:
    """Update any of webhook_url / webhook_enabled / webhook_send_mode."""
    allowed = ("webhook_url", "webhook_enabled", "webhook_send_mode")
    return await _update(conn, active_id, {c: changes[c] for c in allowed if c in changes})


async def replace_file(
    conn: asyncpg.Connection, active_id: int, values: dict[str, Any]
) -> ActiveModelRecord | None:
    """A re-imported file: path, hash, size, library version (and the download time)."""
    return await _update(conn, active_id, values, extra="downloaded_at = now()")


async def count_using_file(conn: asyncpg.Connection, path: str) -> int:
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM prediction_active_models WHERE local_model_path = $1", path
        )
    )


async def delete(conn: asyncpg.Connection, active_id: int) -> ActiveModelRecord | None:
    row = await conn.fetchrow(
        f"DELETE FROM prediction_active_models WHERE id = $1 RETURNING {ACTIVE_COLUMNS}",
        active_id,
    )
    return ActiveModelRecord.from_row(row) if row is not None else None


async def notify_changed(conn: asyncpg.Connection, active_id: int) -> None:
    """Tell every replica (delivered at commit) that this model changed."""
    await conn.execute("SELECT pg_notify($1, $2)", MODELS_CHANGED_CHANNEL, str(active_id))
