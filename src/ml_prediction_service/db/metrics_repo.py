"""Reads of ``coin_metrics`` (the collector's table, read-only for us).

Column names come only from ``features.BASE_COLUMNS`` (a fixed, validated list) and are
quoted; nothing from model metadata is ever interpolated into SQL.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache

import asyncpg
import numpy as np
from numpy.typing import NDArray

from ml_prediction_service.features import BASE_COLUMNS

_INTEGER_OR_BOOL = {"is_koth"}


def float_expr(column: str) -> str:
    """``m."column"`` as float8 (a boolean as 1/0): only for ``BASE_COLUMNS``."""
    if column not in BASE_COLUMNS:  # defence in depth: never happens with our callers
        raise ValueError(f"not a coin_metrics base column: {column!r}")
    if column in _INTEGER_OR_BOOL:
        return f'CASE WHEN m."{column}" THEN 1.0::float8 WHEN NOT m."{column}" THEN 0.0::float8 END'
    return f'm."{column}"::float8'


@cache
def history_query() -> str:
    """Rows of many coins, each in its own (lo, hi] time range, as float8 (NULL → NaN).

    ``$1`` mints, ``$2`` exclusive lower bounds (NULL = whole history), ``$3`` inclusive
    upper bounds (the snapshot's timestamp: history *as of* the event, never "now").

    Both bounds are plain range conditions (``COALESCE`` rather than ``lo IS NULL OR …``) so
    that each coin is one range scan of the collector's ``(mint, timestamp)`` index: with an
    ``OR`` the planner falls back to scanning all of ``coin_metrics`` (measured: 20 ms at
    200k rows instead of 0.3 ms, growing with the table).
    """
    values = ", ".join(f"COALESCE({float_expr(c)}, 'NaN'::float8)" for c in BASE_COLUMNS)
    return f"""
        SELECT q.idx::float8,
               floor(extract(epoch FROM m."timestamp") * 1000000)::float8,
               {values}
          FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[])
               WITH ORDINALITY AS q(mint, lo, hi, idx)
          JOIN coin_metrics m
            ON m.mint = q.mint
           AND m."timestamp" <= q.hi
           AND m."timestamp" > COALESCE(q.lo, '-infinity'::timestamptz)
         ORDER BY q.idx, m."timestamp"
    """


async def fetch_history_records(
    conn: asyncpg.Connection,
    mints: list[str],
    lower: list[datetime | None],
    upper: list[datetime],
) -> list[asyncpg.Record]:
    """One query for all coins of a batch (see ``history_query``); ``history_arrays`` turns
    the result into arrays (CPU work: callers may run it off the event loop)."""
    rows: list[asyncpg.Record] = await conn.fetch(history_query(), mints, lower, upper)
    return rows


def history_arrays(
    rows: list[asyncpg.Record],
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """``(coin_index, timestamps_ns, values)``: ``coin_index`` (rows,) 0-based position in
    the query's ``mints``; ``values`` (rows, len(BASE_COLUMNS)) in ``BASE_COLUMNS`` order."""
    if not rows:
        return (
            np.empty(0, dtype=np.int64),
            np.empty(0, dtype=np.int64),
            np.empty((0, len(BASE_COLUMNS))),
        )
    matrix = np.array(rows, dtype=np.float64)
    coin_index = matrix[:, 0].astype(np.int64) - 1
    timestamps_ns = matrix[:, 1].astype(np.int64) * 1000
    return coin_index, timestamps_ns, np.ascontiguousarray(matrix[:, 2:])


async def fetch_histories(
    conn: asyncpg.Connection,
    mints: list[str],
    lower: list[datetime | None],
    upper: list[datetime],
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """``fetch_history_records`` + ``history_arrays`` in one call."""
    return history_arrays(await fetch_history_records(conn, mints, lower, upper))


async def latest_snapshot(
    conn: asyncpg.Connection, mint: str, at_or_before: datetime | None
) -> tuple[datetime, int | None] | None:
    row = await conn.fetchrow(
        """
        SELECT "timestamp", phase_id_at_time FROM coin_metrics
         WHERE mint = $1 AND ($2::timestamptz IS NULL OR "timestamp" <= $2)
         ORDER BY "timestamp" DESC LIMIT 1
        """,
        mint,
        at_or_before,
    )
    return (row[0], row[1]) if row is not None else None


# Read as stored (boolean, integer) by ``newest_rows``; every other column as float8.
_AS_STORED = ("is_koth", "phase_id_at_time")


@cache
def newest_rows_query() -> str:
    """The newest ``$1`` rows of ``coin_metrics``: mint, timestamp and every base column."""
    values = ", ".join(c if c in _AS_STORED else f"{c}::float8 AS {c}" for c in BASE_COLUMNS)
    return (
        f'SELECT mint, "timestamp", {values} FROM coin_metrics ORDER BY "timestamp" DESC LIMIT $1'
    )


async def newest_rows(conn: asyncpg.Connection, limit: int) -> list[asyncpg.Record]:
    """The newest ``limit`` rows of ``coin_metrics``, newest first (see ``newest_rows_query``;
    NUMERIC and counts as float8, NULL as None)."""
    rows: list[asyncpg.Record] = await conn.fetch(newest_rows_query(), limit)
    return rows


async def count(conn: asyncpg.Connection) -> int:
    """All rows of ``coin_metrics``."""
    return int(await conn.fetchval("SELECT count(*) FROM coin_metrics"))


async def newest_timestamp(conn: asyncpg.Connection) -> datetime | None:
    """The newest ``timestamp`` in ``coin_metrics`` (None when it is empty)."""
    newest: datetime | None = await conn.fetchval('SELECT max("timestamp") FROM coin_metrics')
    return newest


async def random_snapshots(conn: asyncpg.Connection, limit: int) -> list[tuple[str, datetime]]:
    """Up to ``limit`` (mint, timestamp) rows of ``coin_metrics`` in random order."""
    rows = await conn.fetch(
        'SELECT mint, "timestamp" FROM coin_metrics ORDER BY random() LIMIT $1', limit
    )
    return [(r["mint"], r["timestamp"]) for r in rows]


async def table_exists(conn: asyncpg.Connection) -> bool:
    """Whether the collector's coin_metrics table exists (yet)."""
    return await conn.fetchval("SELECT to_regclass('coin_metrics')") is not None
