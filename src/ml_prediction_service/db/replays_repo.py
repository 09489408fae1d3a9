"""SQL of replays (``evaluation/replay.py``, docs/evaluation.md "Replay"): the replay rows,
their evaluations, and the reads of ``coin_metrics`` a replay plans with.

A running replay holds a session advisory lock ``(REPLAY_LOCK_CLASS, id)`` on the connection
it runs on, taken in the transaction that creates its row: a replay still ``pending`` or
``running`` whose lock nobody holds was left by a process that died (``fail_orphans``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from ml_prediction_service.db.evaluations_repo import OUTCOME_COLUMNS
from ml_prediction_service.db.pool import Executor

REPLAY_LOCK_CLASS = 7_331_101
"""First key of a running replay's advisory lock (the second: the replay id, 31 bits)."""

_LOCK_ID = "($1::bigint & 2147483647)::int"

REPLAY_COLUMNS = """id, active_model_id, range_start, range_end, status, coins_total,
    coins_done, rows_total, rows_done, max_rows, max_seconds, error, statistics, created_at,
    started_at, finished_at"""

TERMINAL = ("done", "failed", "cancelled")


@dataclass(frozen=True)
class CoinPlan:
    """The coins with rows in a replay's range and how many rows each has there."""

    mints: list[str]
    rows: list[int]

    @property
    def total_rows(self) -> int:
        return sum(self.rows)


async def plan(conn: Executor, start: datetime, end: datetime) -> CoinPlan:
    """Every coin with rows in ``[start, end]``, most rows first (so that a chunk of coins
    has similar lengths), and their row counts (the ``(timestamp DESC)`` index)."""
    rows = await conn.fetch(
        """
        SELECT mint, count(*) AS n FROM coin_metrics
         WHERE "timestamp" >= $1 AND "timestamp" <= $2
         GROUP BY mint ORDER BY n DESC, mint
        """,
        start,
        end,
    )
    return CoinPlan([r["mint"] for r in rows], [int(r["n"]) for r in rows])


async def history_rows(conn: Executor, mints: list[str], upper: datetime) -> list[int]:
    """How many rows each coin's history read up to ``upper`` returns (its whole history:
    the replay's memory per chunk), one index-only count per coin."""
    rows = await conn.fetch(
        """
        SELECT (SELECT count(*) FROM coin_metrics m
                 WHERE m.mint = q.mint AND m."timestamp" <= $2) AS n
          FROM unnest($1::text[]) WITH ORDINALITY AS q(mint, i)
         ORDER BY q.i
        """,
        mints,
        upper,
    )
    return [int(r["n"]) for r in rows]


async def newest_timestamps(conn: Executor, mints: list[str]) -> dict[str, datetime]:
    """Each coin's newest row overall (to tell a coin with rows after a horizon from a dead
    one): one index lookup per coin."""
    rows = await conn.fetch(
        """
        SELECT q.mint, l.ts
          FROM unnest($1::text[]) AS q(mint)
          CROSS JOIN LATERAL (
                SELECT m."timestamp" AS ts FROM coin_metrics m
                 WHERE m.mint = q.mint ORDER BY m."timestamp" DESC LIMIT 1) l
        """,
        mints,
    )
    return {r["mint"]: r["ts"] for r in rows}


async def create_locked(
    conn: asyncpg.Connection,
    *,
    active_model_id: int,
    start: datetime,
    end: datetime,
    max_rows: int,
    max_seconds: int,
    coins_total: int,
    rows_total: int,
) -> dict[str, Any]:
    """A new ``pending`` replay, and its advisory lock on ``conn`` (the connection it will run
    on), in one transaction: no other process can take it for an orphan in between."""
    async with conn.transaction():
        row = await conn.fetchrow(
            f"""
            INSERT INTO prediction_replays (active_model_id, range_start, range_end, max_rows,
                                            max_seconds, coins_total, rows_total)
            VALUES ($1, $2, $3, $4, $5, $6, $7)
            RETURNING {REPLAY_COLUMNS}
            """,
            active_model_id,
            start,
            end,
            max_rows,
            max_seconds,
            coins_total,
            rows_total,
        )
        assert row is not None
        await conn.execute(f"SELECT pg_advisory_lock({REPLAY_LOCK_CLASS}, {_LOCK_ID})", row["id"])
    return dict(row)


async def unlock(conn: asyncpg.Connection, replay_id: int) -> None:
    await conn.execute(f"SELECT pg_advisory_unlock({REPLAY_LOCK_CLASS}, {_LOCK_ID})", replay_id)


async def fail_orphans(conn: Executor) -> list[int]:
    """Mark ``failed`` every replay still pending/running whose process is gone (nobody
    holds its advisory lock); returns their ids."""
    rows = await conn.fetch(
        f"""
        UPDATE prediction_replays r
           SET status = 'failed', finished_at = now(),
               error = 'the process running this replay stopped before it finished (crash '
                       || 'or kill): its rows so far are kept; start a new replay'
         WHERE r.status IN ('pending', 'running')
           AND NOT EXISTS (
               SELECT 1 FROM pg_locks l
                WHERE l.locktype = 'advisory' AND l.granted
                  AND l.classid = {REPLAY_LOCK_CLASS}
                  AND l.objid = (r.id & 2147483647) AND l.objsubid = 2)
        RETURNING r.id
        """
    )
    return [int(r["id"]) for r in rows]


async def start(conn: Executor, replay_id: int) -> None:
    await conn.execute(
        "UPDATE prediction_replays SET status = 'running', started_at = now() WHERE id = $1",
        replay_id,
    )


async def progress(
    conn: Executor, replay_id: int, *, coins_done: int, rows_done: int, rows_total: int
) -> None:
    await conn.execute(
        """
        UPDATE prediction_replays SET coins_done = $2, rows_done = $3, rows_total = $4
         WHERE id = $1
        """,
        replay_id,
        coins_done,
        rows_done,
        rows_total,
    )


async def finish(
    conn: Executor,
    replay_id: int,
    status: str,
    *,
    error: str | None = None,
    statistics: dict[str, Any] | None = None,
) -> None:
    """The replay's end: ``done`` (with its statistics), ``failed`` or ``cancelled``."""
    assert status in TERMINAL
    await conn.execute(
        """
        UPDATE prediction_replays
           SET status = $2, error = $3, statistics = $4::jsonb, finished_at = now()
         WHERE id = $1
        """,
        replay_id,
        status,
        error,
        statistics,
    )


async def get(conn: Executor, replay_id: int) -> dict[str, Any] | None:
    """One replay with the counts of its replayed predictions."""
    row = await conn.fetchrow(
        f"""
        SELECT {REPLAY_COLUMNS}, c.predictions, c.alerts, c.positives
          FROM prediction_replays r
          CROSS JOIN LATERAL (
                SELECT count(*) AS predictions, count(*) FILTER (WHERE is_alert) AS alerts,
                       count(*) FILTER (WHERE prediction = 1) AS positives
                  FROM prediction_replay_evaluations e WHERE e.replay_id = r.id) c
         WHERE r.id = $1
        """,
        replay_id,
    )
    return dict(row) if row is not None else None


async def list_for_model(conn: Executor, active_model_id: int, limit: int) -> list[dict[str, Any]]:
    """A model's replays, newest first (without the prediction counts)."""
    rows = await conn.fetch(
        f"""
        SELECT {REPLAY_COLUMNS} FROM prediction_replays
         WHERE active_model_id = $1 ORDER BY id DESC LIMIT $2
        """,
        active_model_id,
        limit,
    )
    return [dict(r) for r in rows]


# The columns a replay writes, after replay_id and coin_id (``evaluation/replay.py``).
EVALUATION_COLUMNS = (
    "data_timestamp",
    "probability",
    "prediction",
    "is_alert",
    *OUTCOME_COLUMNS,
)


# One statement per chunk of coins: each coin's id once, per row the rest (``r.ci`` indexes
# the coins).
INSERT_EVALUATIONS = """
INSERT INTO prediction_replay_evaluations (replay_id, coin_id, data_timestamp, probability,
    prediction, is_alert, horizon_at, start_value, end_value, end_timestamp,
    realised_change_pct, max_change_pct, max_at, min_change_pct, min_at, target_hit, result,
    note)
SELECT $1, c.mint, r.ts, r.prob::numeric(5, 4), r.pred, r.alert, r.horizon, r.start_v,
       r.end_v, r.end_ts, r.change, r.max_c, r.max_at, r.min_c, r.min_at, r.hit, r.result,
       r.note
  FROM unnest($2::int[], $3::timestamptz[], $4::float8[], $5::int[], $6::bool[],
              $7::timestamptz[], $8::float8[], $9::float8[], $10::timestamptz[], $11::float8[],
              $12::float8[], $13::timestamptz[], $14::float8[], $15::timestamptz[], $16::bool[],
              $17::text[], $18::text[])
       AS r(ci, ts, prob, pred, alert, horizon, start_v, end_v, end_ts, change, max_c, max_at,
            min_c, min_at, hit, result, note)
  JOIN unnest($19::text[]) WITH ORDINALITY AS c(mint, i) ON c.i = r.ci + 1
ON CONFLICT (replay_id, coin_id, data_timestamp) DO NOTHING
"""


async def insert_evaluations(
    conn: Executor, replay_id: int, mints: list[str], rows: list[tuple[Any, ...]]
) -> None:
    """One chunk's rows, each ``(coin index into mints, *EVALUATION_COLUMNS)``."""
    if rows:
        columns = [list(column) for column in zip(*rows, strict=True)]
        await conn.execute(INSERT_EVALUATIONS, replay_id, *columns, mints)
