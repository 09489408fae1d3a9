"""Queries of the benchmark's naive baseline (the naive per-event, per-model design): its
own sink table, the "last N rows" history query it uses, one INSERT per prediction."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from ml_prediction_service.features import BASE_COLUMNS

CREATE_SINK = """
CREATE TABLE IF NOT EXISTS bench_naive_predictions (
    id BIGSERIAL PRIMARY KEY, coin_id TEXT, data_timestamp TIMESTAMPTZ, model_id BIGINT,
    prediction INTEGER, probability NUMERIC(5, 4), created_at TIMESTAMPTZ DEFAULT now())
"""
_COLUMNS = ", ".join(f'"{c}"' for c in BASE_COLUMNS)
LAST_ROWS = (
    f'SELECT mint, "timestamp", {_COLUMNS} FROM coin_metrics '
    'WHERE mint = $1 AND "timestamp" <= $2 ORDER BY "timestamp" DESC LIMIT $3'
)
INSERT = (
    "INSERT INTO bench_naive_predictions (coin_id, data_timestamp, model_id, prediction, "
    "probability) VALUES ($1, $2, $3, $4, $5)"
)


async def create_sink(conn: asyncpg.Connection) -> None:
    await conn.execute(CREATE_SINK)


async def last_rows(
    conn: asyncpg.Connection, mint: str, at: datetime, limit: int
) -> list[asyncpg.Record]:
    return list(await conn.fetch(LAST_ROWS, mint, at, limit))


async def insert_prediction(
    conn: asyncpg.Connection,
    mint: str,
    at: datetime,
    model_id: int,
    prediction: int,
    probability: float,
) -> None:
    await conn.execute(INSERT, mint, at, model_id, prediction, probability)
