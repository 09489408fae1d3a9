"""Rows for the retention tests, written straight into the service's tables."""

from __future__ import annotations

from datetime import datetime

import asyncpg


async def add_model(conn: asyncpg.Pool | asyncpg.Connection, model_id: int = 1) -> int:
    """An active model row (predictions refer to it); returns its id."""
    return int(
        await conn.fetchval(
            "INSERT INTO prediction_active_models (model_id, model_name, model_type, "
            "target_variable, features, local_model_path, future_minutes) "
            "VALUES ($1, $2, 'xgboost', 'price_close', '[]', '/nowhere', 5) RETURNING id",
            model_id,
            f"model-{model_id}",
        )
    )


async def add_prediction(
    conn: asyncpg.Pool | asyncpg.Connection,
    active_id: int,
    coin: str,
    at: datetime,
    *,
    prediction: int = 0,
    probability: float = 0.3,
    is_alert: bool = False,
    model_id: int = 1,
) -> int:
    return int(
        await conn.fetchval(
            "INSERT INTO predictions (coin_id, data_timestamp, model_id, active_model_id, "
            "prediction, probability, is_alert) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            coin,
            at,
            model_id,
            active_id,
            prediction,
            probability,
            is_alert,
        )
    )


async def add_evaluation(
    conn: asyncpg.Pool | asyncpg.Connection,
    prediction_id: int,
    active_id: int,
    coin: str,
    at: datetime,
    *,
    prediction: int,
    is_alert: bool,
    target_hit: bool | None,
    change: float | None,
    model_id: int = 1,
) -> None:
    result = (
        "not_applicable"
        if target_hit is None
        else ("success" if (prediction == 1) == target_hit else "failed")
    )
    await conn.execute(
        "INSERT INTO prediction_evaluations (prediction_id, data_timestamp, coin_id, model_id, "
        "active_model_id, probability, prediction, is_alert, target_variable, "
        "realised_change_pct, target_hit, result) "
        "VALUES ($1, $2, $3, $4, $5, 0.5, $6, $7, 'price_close', $8, $9, $10)",
        prediction_id,
        at,
        coin,
        model_id,
        active_id,
        prediction,
        is_alert,
        change,
        target_hit,
        result,
    )


async def add_delivery(
    conn: asyncpg.Pool | asyncpg.Connection, coin: str, at: datetime, status: str, key: str
) -> int:
    return int(
        await conn.fetchval(
            "INSERT INTO prediction_webhook_outbox (coin_id, data_timestamp, webhook_url, "
            "payload, idempotency_key, status) VALUES ($1, $2, 'http://127.0.0.1:9/h', '{}', "
            "$3, $4) RETURNING id",
            coin,
            at,
            key,
            status,
        )
    )


async def where_is(conn: asyncpg.Pool | asyncpg.Connection, table: str, row_id: int) -> str | None:
    """The partition a row is stored in (None: no such row)."""
    value = await conn.fetchval(
        f"SELECT tableoid::regclass::text FROM {table} WHERE id = $1", row_id
    )
    return str(value) if value is not None else None
