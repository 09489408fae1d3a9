"""Queries for the webhook outbox and log."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter
from typing import Any

import asyncpg

from ml_prediction_service import jsoncodec
from ml_prediction_service.alerts import references
from ml_prediction_service.db.filters import where_clause
from ml_prediction_service.db.pool import Executor

logger = logging.getLogger(__name__)


def _close(status: str, rows: str, where: str = "") -> str:
    """An UPDATE closing the deliveries whose ids the CTE ``rows`` lists (``AND where``, if
    given) as ``status``; it returns their ids."""
    also = f" AND {where}" if where else ""
    return f"""UPDATE prediction_webhook_outbox o
       SET status = '{status}', closed_at = now()
      FROM {rows} r
     WHERE o.id = r.id{also}
    RETURNING o.id"""


# New deliveries, and in the same statement the older unsent ones of the same coin and URL
# closed as 'superseded': a trader wants the coin's current state, not a replay. (The rows
# inserted here are not visible to the UPDATE, which sees the table as the statement began.)
# Every statement that changes several outbox rows locks them in id order first (ORDER BY id
# FOR UPDATE): the worker's transaction and the sender's would otherwise deadlock.
# ON CONFLICT without a target: the unique key is (idempotency_key, data_timestamp) once the
# table is partitioned (the key must hold the partition key; the idempotency key is made
# from the data timestamp, so the two are the same rule) and (idempotency_key) before.
ENQUEUE = f"""
WITH ins AS (
    INSERT INTO prediction_webhook_outbox (coin_id, data_timestamp, webhook_url, payload,
                                           idempotency_key, created_at)
    SELECT c, t, u, p, k, clock_timestamp()
      FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[])
           AS n(c, t, u, p, k)
    ON CONFLICT DO NOTHING
    RETURNING coin_id, webhook_url, data_timestamp
), older AS (
    SELECT o.id
      FROM prediction_webhook_outbox o
      JOIN ins ON o.coin_id = ins.coin_id AND o.webhook_url = ins.webhook_url
     WHERE o.status = 'pending' AND o.kind = 'prediction'
       AND o.data_timestamp < ins.data_timestamp
     ORDER BY o.id
       FOR UPDATE OF o
), superseded AS (
    {_close("superseded", "older")}
)
SELECT count(*) FROM superseded
"""


def _newer(statuses: str) -> str:
    """Whether prediction delivery o's coin has a newer snapshot for the same URL in one of
    these statuses (then o is not sent). An evaluation delivery (kind 'evaluation', the
    outcome of one alert) is never superseded and supersedes nothing."""
    return f"""(o.kind = 'prediction' AND EXISTS (
               SELECT 1 FROM prediction_webhook_outbox p
                WHERE p.coin_id = o.coin_id AND p.webhook_url = o.webhook_url
                  AND p.kind = 'prediction'
                  AND p.status IN ({statuses}) AND p.data_timestamp > o.data_timestamp))"""


_NEWER_PENDING = _newer("'pending'")


def _give_back(rows: str, also: str = "") -> str:
    """An UPDATE giving the deliveries the CTE ``rows`` lists (with its ``newer`` flag) back
    as pending, or closing them as superseded when a newer snapshot waits."""
    return f"""UPDATE prediction_webhook_outbox o
       SET status = CASE WHEN r.newer THEN 'superseded' ELSE 'pending' END,
           closed_at = CASE WHEN r.newer THEN now() END,
           lease_until = NULL{also}
      FROM {rows} r
     WHERE o.id = r.id"""


# A claim: due pending deliveries of (coin, url)s with nothing in flight
# (so a coin's deliveries arrive in order), each taken with a lease: a replica that dies
# mid-send gives it back when the lease runs out (see MAINTAIN). Older snapshots are mostly
# superseded at enqueue; one that came back to 'pending' beside a newer one (a release at
# shutdown, a re-send request) is never claimed, and MAINTAIN closes it.
_CLAIMABLE = f"""
    SELECT o.id
      FROM prediction_webhook_outbox o
     WHERE o.status = 'pending' AND o.next_attempt_at <= now()
       AND COALESCE(o.requeued_at, o.created_at) >= now() - make_interval(secs => $3)
       AND NOT EXISTS (
           SELECT 1 FROM prediction_webhook_outbox s
            WHERE s.coin_id = o.coin_id AND s.webhook_url = o.webhook_url
              AND s.status = 'sending')
       AND NOT {_NEWER_PENDING}
"""

# Half of a claim is the freshest due deliveries (after an outage the current state goes
# out first), half the oldest (under a steady overload none waits behind newer ones until it
# expires). In steady state the backlog is smaller than a claim and order does not matter.
CLAIM_DUE = f"""
WITH freshest AS ({_CLAIMABLE}
     ORDER BY o.created_at DESC
     LIMIT ($1 + 1) / 2
       FOR UPDATE OF o SKIP LOCKED
), oldest AS ({_CLAIMABLE}
     ORDER BY o.created_at
     LIMIT $1 / 2
       FOR UPDATE OF o SKIP LOCKED
), due AS (
    SELECT id FROM freshest UNION SELECT id FROM oldest
)
UPDATE prediction_webhook_outbox o
   SET status = 'sending',
       attempts = o.attempts + 1,
       lease_until = now() + make_interval(secs => $2)
  FROM due
 WHERE o.id = due.id
RETURNING o.id, o.coin_id, o.data_timestamp, o.webhook_url, o.payload AS body,
          o.idempotency_key,
          o.attempts, COALESCE(o.requeued_at, o.created_at) AS aged_from, o.created_at
"""

# Now and then: deliveries whose lease ran out (their sender died) are given back - or
# closed as superseded when a newer snapshot of the coin waits -, pending ones past the max
# age are closed as expired (old news is not sent) and pending ones with a newer snapshot of
# their coin pending or in flight as superseded. The last are found from the newest open
# snapshot per (coin, URL), one pass over the open rows: as a correlated EXISTS per pending
# row the planner, misled by the statistics of a partition filling up, compared every
# pending row with every open row (3.8 s with 4,000 pending, in a soak).
MAINTAIN = f"""
WITH lost_rows AS (
    SELECT o.id, {_NEWER_PENDING} AS newer
      FROM prediction_webhook_outbox o
     WHERE o.status = 'sending' AND o.lease_until < now()
     ORDER BY o.id
       FOR UPDATE OF o
), old_rows AS (
    SELECT id FROM prediction_webhook_outbox
     WHERE status = 'pending'
       AND COALESCE(requeued_at, created_at) < now() - make_interval(secs => $1)
     ORDER BY id
       FOR UPDATE
), open_newest AS (
    SELECT coin_id, webhook_url, max(data_timestamp) AS newest
      FROM prediction_webhook_outbox
     WHERE status IN ('pending', 'sending') AND kind = 'prediction'
     GROUP BY coin_id, webhook_url
    HAVING count(*) > 1
), older_rows AS (
    SELECT o.id
      FROM prediction_webhook_outbox o
      JOIN open_newest n ON n.coin_id = o.coin_id AND n.webhook_url = o.webhook_url
     WHERE o.status = 'pending' AND o.kind = 'prediction' AND o.data_timestamp < n.newest
     ORDER BY o.id
       FOR UPDATE OF o
), lost AS (
    {_give_back("lost_rows")}
    RETURNING o.status
), expired AS (
    {_close("expired", "old_rows")}
), older AS (
    {_close("superseded", "older_rows", "o.id NOT IN (SELECT id FROM old_rows)")}
)
SELECT (SELECT count(*) FROM lost WHERE status = 'superseded')
     + (SELECT count(*) FROM older) AS superseded,
       (SELECT count(*) FROM lost WHERE status = 'pending') AS released,
       (SELECT count(*) FROM expired) AS expired
"""

# Every finished attempt of a send round in one statement, and its log rows in another.
# Only a delivery still leased for that attempt changes (one given back meanwhile - its
# lease ran out - belongs to whoever claims it next); the log keeps every attempt. One to be
# retried is closed as superseded instead when a newer snapshot of its coin was queued while
# it was in flight (that one waited for it, to keep the order). Returns the superseded count.
FINISH_MANY = f"""
WITH f AS (
    SELECT * FROM unnest($1::bigint[], $2::text[], $3::int[], $4::text[], $5::timestamptz[],
                         $6::timestamptz[], $7::int[])
           AS f(id, status, http_status, error, retry_at, finished_at, attempt)
), mine AS (
    SELECT o.id, {_NEWER_PENDING} AS newer
      FROM prediction_webhook_outbox o
      JOIN f ON f.id = o.id
     WHERE o.status = 'sending' AND o.attempts = f.attempt
     ORDER BY o.id
       FOR UPDATE OF o
), done AS (
    UPDATE prediction_webhook_outbox o
       SET status = CASE WHEN f.status = 'pending' AND mine.newer THEN 'superseded'
                         ELSE f.status END,
           last_status = f.http_status, last_error = f.error,
           lease_until = NULL, next_attempt_at = COALESCE(f.retry_at, o.next_attempt_at),
           delivered_at = CASE WHEN f.status = 'delivered' THEN f.finished_at
                               ELSE o.delivered_at END,
           closed_at = CASE WHEN f.status IN ('delivered', 'failed') OR mine.newer
                            THEN f.finished_at ELSE o.closed_at END
      FROM f, mine
     WHERE o.id = f.id AND o.id = mine.id
    RETURNING o.status
)
SELECT count(*) FROM done WHERE status = 'superseded'
"""

LOG_MANY = """
INSERT INTO prediction_webhook_log (coin_id, data_timestamp, webhook_url, response_status,
    response_body, error_message, outbox_id, attempt, idempotency_key, duration_ms, outcome,
    created_at)
SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::int[], $5::text[],
                     $6::text[], $7::bigint[], $8::int[], $9::text[], $10::int[], $11::text[],
                     $12::timestamptz[])
"""

LOG_ATTEMPT = """
INSERT INTO prediction_webhook_log (coin_id, data_timestamp, webhook_url, payload,
    response_status, response_body, error_message, outbox_id, attempt, idempotency_key,
    duration_ms, outcome)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
"""

WINDOW_MARKS = """
SELECT w.active_model_id, w.coin_id, w.tag, w.sent_data_timestamp
  FROM prediction_webhook_windows w
  JOIN unnest($1::bigint[], $2::text[], $3::text[]) AS k(m, c, t)
    ON w.active_model_id = k.m AND w.coin_id = k.c AND w.tag = k.t
"""

MARK_WINDOWS = """
INSERT INTO prediction_webhook_windows (active_model_id, coin_id, tag, sent_data_timestamp)
SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::timestamptz[])
ON CONFLICT (active_model_id, coin_id, tag) DO UPDATE
   SET sent_data_timestamp = GREATEST(prediction_webhook_windows.sent_data_timestamp,
                                      EXCLUDED.sent_data_timestamp)
"""

# Re-open failed or expired deliveries (one by id, or all of some statuses in a time range):
# due now, their age counted from now.
REQUEUE = """
UPDATE prediction_webhook_outbox
   SET status = 'pending', next_attempt_at = now(), requeued_at = now(), closed_at = NULL,
       lease_until = NULL
 WHERE status = ANY($1::text[])
   AND ($2::bigint IS NULL OR id = $2)
   AND ($3::timestamptz IS NULL OR created_at >= $3)
   AND ($4::timestamptz IS NULL OR created_at <= $4)
RETURNING id
"""

OUTBOX_STATS = """
SELECT count(*) FILTER (WHERE status IN ('pending', 'sending')) AS open,
       min(created_at) FILTER (WHERE status IN ('pending', 'sending')) AS oldest_open,
       count(*) FILTER (WHERE status = 'failed') AS failed,
       count(*) FILTER (WHERE status = 'delivered') AS delivered,
       count(*) FILTER (WHERE status = 'superseded') AS superseded,
       count(*) FILTER (WHERE status = 'expired') AS expired
  FROM prediction_webhook_outbox
"""

# The backlog gauges, read every second: only the open rows (partial indexes), so the cost
# does not grow with the delivered history. The oldest in-flight row is read through the
# partial index of the sending rows (OFFSET 0 keeps the subquery apart): as a plain
# min(created_at) the planner walks the full created_at index of every partition, skipping
# every closed row, until it meets a sending one - 0.3-0.6 s a call with 20 partitions of
# 58k rows each in a soak, every second.
OPEN_STATS = """
SELECT (SELECT count(*) FROM prediction_webhook_outbox WHERE status = 'pending')
     + (SELECT count(*) FROM prediction_webhook_outbox WHERE status = 'sending') AS open,
       LEAST((SELECT min(created_at) FROM prediction_webhook_outbox WHERE status = 'pending'),
             (SELECT min(created_at)
                FROM (SELECT created_at FROM prediction_webhook_outbox
                       WHERE status = 'sending' OFFSET 0) AS sending))
           AS oldest_open
"""


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    coin_id: str
    data_timestamp: datetime
    url: str
    body: bytes  # the stored payload as sent (no decoding and encoding again)
    idempotency_key: str
    attempt: int
    aged_from: datetime  # created, or re-send requested
    created_at: datetime  # written with its predictions (delivery lag counts from here)


@dataclass(frozen=True, slots=True)
class Finished:
    """One attempt's result, to be recorded with the others of its round."""

    delivery: Delivery
    status: str  # delivered / failed / pending (retry)
    http_status: int | None
    error: str | None
    body: str | None
    retry_at: datetime | None
    finished_at: datetime
    duration_ms: int

    @property
    def outcome(self) -> str:
        """The log's word for it: delivered / failed / retry."""
        return "retry" if self.status == "pending" else self.status


STORE_MODEL_OBJECTS = """
INSERT INTO prediction_webhook_model_objects (digest, body)
SELECT * FROM unnest($1::text[], $2::text[])
ON CONFLICT (digest) DO NOTHING
"""


async def store_model_objects(conn: asyncpg.Connection, texts: dict[str, str]) -> None:
    """Store the static model objects (digest -> text) that payloads refer to
    (``alerts/references.py``); in the transaction that queues those payloads."""
    if texts:
        await conn.execute(STORE_MODEL_OBJECTS, list(texts), list(texts.values()))


# The stored objects that bodies refer to, by digest. Content-addressed, so a cached text
# is never stale; bounded by clearing (a model version has one, so this is rarely full).
_OBJECT_TEXTS: dict[str, str] = {}
_OBJECT_CACHE_MAX = 4096


async def expand_bodies(conn: Executor, bodies: list[str]) -> list[str]:
    """Stored payloads as they are sent: model references replaced by the stored objects
    (``alerts/references.py``; one query for the digests not cached yet)."""
    wanted: set[str] = set()
    for body in bodies:
        wanted |= references.referenced(body)
    if not wanted:  # payloads stored before migration 0024 (or no bodies)
        return bodies
    unknown = [d for d in wanted if d not in _OBJECT_TEXTS]
    if unknown:
        rows = await conn.fetch(
            "SELECT digest, body FROM prediction_webhook_model_objects "
            "WHERE digest = ANY($1::text[])",
            unknown,
        )
        if len(_OBJECT_TEXTS) + len(rows) > _OBJECT_CACHE_MAX:
            _OBJECT_TEXTS.clear()
        _OBJECT_TEXTS.update((r["digest"], r["body"]) for r in rows)
    out = []
    for body in bodies:
        text, missing = references.expand(body, _OBJECT_TEXTS)
        if missing:
            # never expected (the object is written in the transaction that queues the
            # payload): someone deleted rows of the table. Sent as it is, not held back.
            logger.error(
                "%d model object(s) that a stored webhook payload refers to are missing "
                "from prediction_webhook_model_objects; sent without them",
                missing,
            )
        out.append(text)
    return out


async def enqueue(
    conn: asyncpg.Connection,
    rows: list[tuple[str, datetime, str, dict[str, Any], str]],
    objects: dict[str, str] | None = None,
) -> int:
    """Queue deliveries; returns how many older unsent ones they superseded. ``objects``:
    the model objects their payloads refer to and that may not be stored yet."""
    if objects:
        await store_model_objects(conn, objects)
    if not rows:
        return 0
    coins, stamps, urls, payloads, keys = (list(col) for col in zip(*rows, strict=True))
    texts = [jsoncodec.dumps_text(p) for p in payloads]
    return int(await conn.fetchval(ENQUEUE, coins, stamps, urls, texts, keys))


# Evaluation deliveries (evaluation/evaluator.py, in the evaluator's transaction): queued
# beside the prediction deliveries, never superseding one (see _newer).
ENQUEUE_EVALUATIONS = """
INSERT INTO prediction_webhook_outbox (coin_id, data_timestamp, webhook_url, payload,
                                       idempotency_key, created_at, kind)
SELECT c, t, u, p, k, clock_timestamp(), 'evaluation'
  FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[])
       AS n(c, t, u, p, k)
ON CONFLICT DO NOTHING
"""


async def enqueue_evaluations(
    conn: asyncpg.Connection,
    rows: list[tuple[str, datetime, str, dict[str, Any], str]],
    objects: dict[str, str] | None = None,
) -> None:
    """Queue evaluation deliveries (coin, data timestamp, URL, payload, idempotency key);
    ``objects`` as in ``enqueue``."""
    if objects:
        await store_model_objects(conn, objects)
    if not rows:
        return
    coins, stamps, urls, payloads, keys = (list(col) for col in zip(*rows, strict=True))
    texts = [jsoncodec.dumps_text(p) for p in payloads]
    await conn.execute(ENQUEUE_EVALUATIONS, coins, stamps, urls, texts, keys)


async def claim_due(
    conn: asyncpg.Connection, limit: int, lease_seconds: float, max_age_seconds: float
) -> list[Delivery]:
    rows = await conn.fetch(CLAIM_DUE, limit, lease_seconds, max_age_seconds)
    bodies = await expand_bodies(conn, [r["body"] for r in rows])
    return [
        Delivery(
            r["id"],
            r["coin_id"],
            r["data_timestamp"],
            r["webhook_url"],
            body.encode(),
            r["idempotency_key"],
            r["attempts"],
            r["aged_from"],
            r["created_at"],
        )
        for r, body in zip(rows, bodies, strict=True)
    ]


async def maintain(conn: asyncpg.Connection, max_age_seconds: float) -> dict[str, int]:
    """Give back lost leases, expire old pending deliveries; the counts of each."""
    row = await conn.fetchrow(MAINTAIN, max_age_seconds)
    assert row is not None
    return {k: int(row[k]) for k in ("superseded", "released", "expired")}


def _columns(done: list[Finished], *names: str) -> list[list[Any]]:
    """The arguments of an ``unnest`` statement: one array per column, of the attribute
    ``name`` (dotted: ``delivery.id``) of every finished attempt."""
    return [list(map(attrgetter(name), done)) for name in names]


async def finish_many(conn: asyncpg.Connection, done: list[Finished]) -> int:
    """Record a round of attempts: outbox states (one statement) and log rows (one).
    Returns how many retries were closed as superseded instead."""
    if not done:
        return 0
    superseded = await conn.fetchval(
        FINISH_MANY,
        *_columns(
            done,
            "delivery.id",
            "status",
            "http_status",
            "error",
            "retry_at",
            "finished_at",
            "delivery.attempt",
        ),
    )
    await conn.execute(
        LOG_MANY,
        *_columns(
            done,
            "delivery.coin_id",
            "delivery.data_timestamp",
            "delivery.url",
            "http_status",
            "body",
            "error",
            "delivery.id",
            "delivery.attempt",
            "delivery.idempotency_key",
            "duration_ms",
            "outcome",
            "finished_at",
        ),
    )
    return int(superseded)


async def log_attempt(conn: asyncpg.Connection, values: dict[str, Any]) -> None:
    """One log row with its own payload (a test send, which has no outbox row)."""
    await conn.execute(
        LOG_ATTEMPT,
        values["coin_id"],
        values["data_timestamp"],
        values["webhook_url"],
        values["payload"],
        values.get("response_status"),
        values.get("response_body"),
        values.get("error_message"),
        values.get("outbox_id"),
        values.get("attempt"),
        values.get("idempotency_key"),
        values.get("duration_ms"),
        values.get("outcome"),
    )


# Cancelled attempts of a stopping sender, back at once - or closed as superseded when a
# newer snapshot of the coin was queued meanwhile (while one is in flight, a newer one can
# only be pending, so this check is complete). Rows locked in id order.
RELEASE = f"""
WITH mine AS (
    SELECT o.id, {_NEWER_PENDING} AS newer
      FROM prediction_webhook_outbox o
     WHERE o.id = ANY($1::bigint[]) AND o.status = 'sending'
     ORDER BY o.id
       FOR UPDATE OF o
)
{_give_back("mine", ", attempts = GREATEST(o.attempts - 1, 0)")}
"""


async def release(conn: asyncpg.Connection, delivery_ids: list[int]) -> None:
    """Give deliveries whose attempt was cancelled (a stopping sender) back at once."""
    await conn.execute(RELEASE, delivery_ids)


async def window_marks(
    conn: asyncpg.Connection, keys: list[tuple[int, str, str]]
) -> dict[tuple[int, str, str], datetime]:
    """When each (active model, coin, tag) last sent, in coin time."""
    rows = await conn.fetch(
        WINDOW_MARKS, [k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys]
    )
    return {(r[0], r[1], r[2]): r[3] for r in rows}


async def mark_windows(
    conn: asyncpg.Connection, marks: list[tuple[int, str, str, datetime]]
) -> None:
    await conn.execute(MARK_WINDOWS, *(list(col) for col in zip(*marks, strict=True)))


async def requeue(
    conn: Executor,
    statuses: list[str],
    *,
    delivery_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[int]:
    rows = await conn.fetch(REQUEUE, statuses, delivery_id, since, until)
    return [int(r["id"]) for r in rows]


DELIVERY_LAG = """
SELECT percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (
           ORDER BY extract(epoch FROM delivered_at - created_at) * 1000)
  FROM prediction_webhook_outbox
 WHERE status = 'delivered' AND delivered_at > now() - interval '1 hour'
"""


async def open_stats(conn: Executor) -> tuple[int, datetime | None]:
    """(open deliveries, creation time of the oldest open one)."""
    row = await conn.fetchrow(OPEN_STATS)
    assert row is not None
    return int(row["open"]), row["oldest_open"]


async def outbox_stats(conn: Executor, *, with_lag: bool = False) -> dict[str, Any]:
    row = await conn.fetchrow(OUTBOX_STATS)
    stats = dict(row) if row is not None else {}
    if with_lag:
        lag = await conn.fetchval(DELIVERY_LAG)
        names = ("p50", "p95", "p99")
        stats["lag_ms"] = {
            n: (round(v, 1) if v is not None else None)
            for n, v in zip(names, lag or [None] * 3, strict=True)
        }
    return stats


async def list_deliveries(
    conn: Executor, *, status: str | None, coin_id: str | None, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    where, args = where_clause((("status", "=", status), ("coin_id", "=", coin_id)))
    total = await conn.fetchval(f"SELECT count(*) FROM prediction_webhook_outbox{where}", *args)
    rows = await conn.fetch(
        f"SELECT id, coin_id, data_timestamp, webhook_url, status, attempts, last_status, "
        f"last_error, created_at, delivered_at, closed_at FROM prediction_webhook_outbox{where} "
        f"ORDER BY id DESC LIMIT ${len(args) + 1} OFFSET ${len(args) + 2}",
        *args,
        limit,
        offset,
    )
    return [dict(r) for r in rows], int(total)


@dataclass(frozen=True)
class LogFilter:
    coin_id: str | None = None
    outcome: str | None = None
    response_status: int | None = None
    outbox_id: int | None = None
    since: datetime | None = None

    def where(self) -> tuple[str, list[Any]]:
        return where_clause(
            (
                ("l.coin_id", "=", self.coin_id),
                ("l.outcome", "=", self.outcome),
                ("l.response_status", "=", self.response_status),
                ("l.outbox_id", "=", self.outbox_id),
                ("l.created_at", ">=", self.since),
            )
        )


async def list_log(
    conn: Executor, flt: LogFilter, *, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    where, args = flt.where()
    total = await conn.fetchval(f"SELECT count(*) FROM prediction_webhook_log l{where}", *args)
    rows = await conn.fetch(
        f"SELECT l.id, l.coin_id, l.data_timestamp, l.webhook_url, "
        f"l.payload, o.payload AS outbox_payload, l.response_status, l.response_body, "
        f"l.error_message, l.outbox_id, l.attempt, l.idempotency_key, l.duration_ms, "
        f"l.outcome, l.created_at FROM prediction_webhook_log l "
        f"LEFT JOIN prediction_webhook_outbox o ON o.id = l.outbox_id{where} "
        f"ORDER BY l.id DESC LIMIT ${len(args) + 1} OFFSET ${len(args) + 2}",
        *args,
        limit,
        offset,
    )
    entries = [dict(r) for r in rows]
    # the log keeps a payload of its own only for test sends; a delivery's is the outbox's
    from_outbox = [e for e in entries if e["payload"] is None and e["outbox_payload"]]
    texts = await expand_bodies(conn, [e["outbox_payload"] for e in from_outbox])
    for entry, text in zip(from_outbox, texts, strict=True):
        entry["payload"] = jsoncodec.loads(text)
    for entry in entries:
        del entry["outbox_payload"]
    return entries, int(total)


DELIVERY_SUMMARY = """
SELECT count(*) AS delivered, min(delivered_at) AS first_at, max(delivered_at) AS last_at,
       percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (
           ORDER BY extract(epoch FROM delivered_at - created_at) * 1000) AS lag_ms,
       count(*) FILTER (WHERE attempts > 1) AS delivered_after_retry,
       (SELECT count(*) FROM prediction_webhook_log
         WHERE outcome = 'retry' AND created_at >= $1) AS retries,
       (SELECT error_message FROM prediction_webhook_log
         WHERE outcome = 'retry' AND created_at >= $1
         GROUP BY error_message ORDER BY count(*) DESC LIMIT 1) AS top_retry_reason
  FROM prediction_webhook_outbox
 WHERE status = 'delivered' AND created_at >= $1
"""


async def delivery_summary(conn: Executor, since: datetime) -> dict[str, Any]:
    """Deliveries of outbox rows written since ``since``: count, first and last 2xx, and
    the lag (written → 2xx) percentiles p50/p95/p99 in ms (the benchmark's figures)."""
    row = await conn.fetchrow(DELIVERY_SUMMARY, since)
    assert row is not None
    return dict(row)


async def delivered_count(conn: Executor, key_prefix: str) -> int:
    """Delivered outbox rows whose idempotency key starts with ``key_prefix`` (the bench)."""
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM prediction_webhook_outbox "
            "WHERE starts_with(idempotency_key, $1) AND status = 'delivered'",
            key_prefix,
        )
    )
