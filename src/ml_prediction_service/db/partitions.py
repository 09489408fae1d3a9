"""Time partitions of the growing tables (docs/retention.md): what exists, creating ranges
ahead, detaching and dropping expired ones (their rollup in the same transaction as the
drop), and converting a table that is not partitioned yet. Every DDL statement of retention
is here; the decisions (which range, when) are the partition keeper's
(``retention/keeper.py``).

Every table is RANGE partitioned by ``data_timestamp`` (the coin time of the row, NOT NULL,
part of every unique key), with a DEFAULT partition that catches a row outside the created
ranges. A partition is named by its start in UTC: ``predictions_p20261202_0930`` (with the
seconds, ``…_093010``, when it does not start on a whole minute).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import asyncpg

from ml_prediction_service.db import rollup_repo

logger = logging.getLogger(__name__)

# The keeper and the conversion hold it (session level) while they change partitions, so two
# replicas never race; the keeper only tries it (another replica keeps this round).
PARTITION_LOCK_KEY = 7_331_003

# Every statement that needs a lock on a live table waits at most this long for it and then
# gives up (the next round tries again): a DDL lock that waits behind a long query would
# make every INSERT queue behind it.
LOCK_TIMEOUT = "1s"
# The conversion waits longer: it runs once, from `migrate`, and retries its swap.
CONVERSION_LOCK_TIMEOUT = "5s"
# The keeper's ACCESS EXCLUSIVE locks on live tables (detach, and the drop's foreign keys) are
# not waited for in the lock queue at all: a request waiting there holds up every later
# request for the table, i.e. every worker's next batch, for up to LOCK_TIMEOUT (once a
# minute in a soak with one-minute partitions). Instead NOWAIT tries, all the tables at once,
# every LOCK_POLL_STEP_SECONDS, until they are free at the same moment or LOCK_POLL_SECONDS
# passed (then LockNotAvailableError, as for a lock_timeout: the next round tries again).
LOCK_POLL_SECONDS = 2.0
LOCK_POLL_STEP_SECONDS = 0.01

# A table detached for dropping carries this comment (with its parent's name after it)
# until the transaction that rolls it up and drops it commits: a keeper that died between
# the two finds it and finishes the job.
DETACHED_MARK = "ml-prediction-service: detached for drop from "

DEFAULT_INTERVAL = timedelta(days=1)
DEFAULT_AHEAD = 3

# migrate() converts a table that holds rows only up to this size by itself (a few
# seconds of index builds); a bigger one waits for `migrate --partition`.
INLINE_MAX_BYTES = 256 * 1024 * 1024

Rollup = Literal["predictions", "evaluations"]


@dataclass(frozen=True)
class TableSpec:
    """A partitioned table and what its partitions need when they go."""

    name: str
    key: str = "data_timestamp"
    rollup: Rollup | None = None  # which counts of prediction_model_daily_stats it feeds
    blocked_by: str | None = None  # rows that keep a partition from being dropped


PREDICTIONS = TableSpec("predictions", rollup="predictions")
OUTBOX = TableSpec("prediction_webhook_outbox", blocked_by="status IN ('pending', 'sending')")
WEBHOOK_LOG = TableSpec("prediction_webhook_log")
EVALUATIONS = TableSpec("prediction_evaluations", rollup="evaluations")
TABLES: tuple[TableSpec, ...] = (PREDICTIONS, OUTBOX, WEBHOOK_LOG, EVALUATIONS)
SPECS = {t.name: t for t in TABLES}


@dataclass(frozen=True)
class Partition:
    name: str
    lo: datetime | None  # None: MINVALUE (the legacy partition of a converted table)
    hi: datetime | None  # None: the DEFAULT partition
    is_default: bool = False


@dataclass(frozen=True)
class TableState:
    """A table's partitions, oldest first; ``None`` from :func:`inspect` when the table is
    missing, ``partitioned=False`` when it is a plain table (not converted yet)."""

    name: str
    partitioned: bool
    partitions: tuple[Partition, ...] = ()

    @property
    def ranges(self) -> list[Partition]:
        return [p for p in self.partitions if not p.is_default]

    @property
    def default(self) -> Partition | None:
        return next((p for p in self.partitions if p.is_default), None)

    @property
    def end(self) -> datetime | None:
        """Where the newest range ends (None without ranges)."""
        highs = [p.hi for p in self.ranges if p.hi is not None]
        return max(highs) if highs else None


# -- names and ranges (pure) ------------------------------------------------------------------

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def align_down(at: datetime, interval: timedelta) -> datetime:
    """The interval boundary at or before ``at`` (boundaries are multiples of the interval
    since the epoch, UTC: daily partitions start at midnight UTC)."""
    step = int(interval.total_seconds())
    seconds = int((at - _EPOCH).total_seconds())
    return _EPOCH + timedelta(seconds=seconds - seconds % step)


def align_up(at: datetime, interval: timedelta) -> datetime:
    down = align_down(at, interval)
    return down if down == at else down + interval


def partition_name(table: str, start: datetime) -> str:
    """``<table>_pYYYYMMDD_HHMM`` by the range's start (UTC); ``…_HHMMSS`` for a start
    that is not on a whole minute (intervals under a minute: tests, short soak runs)."""
    start = start.astimezone(UTC)
    seconds = f"{start:%S}" if start.second else ""
    return f"{table}_p{start:%Y%m%d_%H%M}{seconds}"


def wanted_ranges(
    end: datetime | None, now: datetime, interval: timedelta, ahead: int
) -> list[tuple[datetime, datetime]]:
    """Ranges to create so that partitions cover ``now`` and ``ahead`` intervals after it.

    They continue from ``end`` (the newest range's end) when it is not in the past; after a
    gap (the keeper did not run for longer than the ranges ahead reached) they start at the
    current interval and the gap stays with the DEFAULT partition. The first range after an
    ``end`` that is not on a boundary of the current interval (it was changed) is shorter.
    """
    current = align_down(now, interval)
    start = end if end is not None and end >= current else current
    until = current + interval * (ahead + 1)
    out: list[tuple[datetime, datetime]] = []
    while start < until:
        stop = align_down(start, interval) + interval
        out.append((start, stop))
        start = stop
    return out


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(at: datetime) -> str:
    return "'" + at.astimezone(UTC).isoformat() + "'"


def _suffixed(name: str, suffix: str) -> str:
    """``name + suffix`` within PostgreSQL's 63-byte names."""
    return name[: 63 - len(suffix)] + suffix


@asynccontextmanager
async def _ddl(conn: asyncpg.Connection, lock_wait: str = LOCK_TIMEOUT) -> AsyncIterator[None]:
    """A transaction whose lock waits give up after ``lock_wait`` (LockNotAvailableError)."""
    async with conn.transaction():
        await conn.execute(f"SET LOCAL lock_timeout = '{lock_wait}'")
        yield


async def lock_unqueued(
    conn: asyncpg.Connection, tables: Sequence[str], budget: float = LOCK_POLL_SECONDS
) -> int:
    """ACCESS EXCLUSIVE on every one of ``tables`` (quoted names) for the rest of the
    transaction, without ever queueing for one: each try takes them all with NOWAIT inside
    a savepoint, and a refused try rolls the savepoint back (releasing the ones it got), so
    this never holds one table while waiting for another. Returns the tries it took."""
    if not tables:
        return 0
    deadline = time.monotonic() + budget
    tries = 0
    while True:
        tries += 1
        try:
            async with conn.transaction():  # a savepoint inside the caller's transaction
                for table in tables:
                    await conn.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE NOWAIT")
            return tries
        except asyncpg.LockNotAvailableError:
            if time.monotonic() >= deadline:
                raise
            await asyncio.sleep(LOCK_POLL_STEP_SECONDS)


_REFERENCED = """
SELECT DISTINCT c.confrelid::regclass::text AS name
  FROM pg_constraint c
 WHERE c.conrelid = $1::regclass AND c.contype = 'f' AND c.confrelid <> c.conrelid
 ORDER BY 1
"""


async def referenced_tables(conn: asyncpg.Connection, table: str) -> list[str]:
    """The tables ``table``'s foreign keys point at (quoted as needed): detaching or dropping
    one of its partitions changes their triggers, so they are locked too."""
    return [r["name"] for r in await conn.fetch(_REFERENCED, table)]


# -- what exists --------------------------------------------------------------------------------

_PARTITIONS = r"""
SELECT c.relname AS name, b.bound = 'DEFAULT' AS is_default,
       (regexp_match(b.bound, 'FROM \(''([^'']*)''\)'))[1]::timestamptz AS lo,
       (regexp_match(b.bound, 'TO \(''([^'']*)''\)'))[1]::timestamptz AS hi
  FROM pg_inherits i
  JOIN pg_class c ON c.oid = i.inhrelid,
       LATERAL (SELECT pg_get_expr(c.relpartbound, c.oid) AS bound) b
 WHERE i.inhparent = to_regclass($1)
"""


async def inspect(conn: asyncpg.Connection, table: str) -> TableState | None:
    kind = await conn.fetchval(
        "SELECT relkind::text FROM pg_class WHERE oid = to_regclass($1)", table
    )
    if kind is None:
        return None
    if kind != "p":
        return TableState(table, partitioned=False)
    rows = await conn.fetch(_PARTITIONS, table)
    parts = sorted(
        (Partition(r["name"], r["lo"], r["hi"], bool(r["is_default"])) for r in rows),
        key=lambda p: (p.is_default, p.lo or datetime.min.replace(tzinfo=UTC)),
    )
    return TableState(table, partitioned=True, partitions=tuple(parts))


async def default_rows(conn: asyncpg.Connection, state: TableState) -> int:
    """Rows in the table's DEFAULT partition (outside every created range)."""
    part = state.default
    if part is None:
        return 0
    return int(await conn.fetchval(f"SELECT count(*) FROM {_ident(part.name)}"))


async def try_lock(conn: asyncpg.Connection) -> bool:
    return bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", PARTITION_LOCK_KEY))


async def lock(conn: asyncpg.Connection) -> None:
    await conn.execute("SELECT pg_advisory_lock($1)", PARTITION_LOCK_KEY)


async def unlock(conn: asyncpg.Connection) -> None:
    await conn.execute("SELECT pg_advisory_unlock($1)", PARTITION_LOCK_KEY)


# -- creating a range -------------------------------------------------------------------------


async def _columns(conn: asyncpg.Connection, table: str) -> str:
    names = await conn.fetch(
        "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass($1) "
        "AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
        table,
    )
    return ", ".join(_ident(r["attname"]) for r in names)


async def create_partition(
    conn: asyncpg.Connection, spec: TableSpec, lo: datetime, hi: datetime
) -> int | None:
    """Create the partition ``[lo, hi)``; returns the rows it took over from the DEFAULT
    partition, or None when it existed already.

    Built beside the table and attached (ATTACH takes SHARE UPDATE EXCLUSIVE on the parent:
    writers and readers go on; CREATE TABLE ... PARTITION OF would take ACCESS EXCLUSIVE).
    The DEFAULT partition is locked (ATTACH scans it anyway) and rows of the range that
    wait in it are moved into the new partition in the same transaction: none is lost, and
    ATTACH does not fail on them.
    """
    name = partition_name(spec.name, lo)
    parent = _ident(spec.name)
    async with _ddl(conn):
        await conn.execute(f"LOCK TABLE {parent} IN SHARE UPDATE EXCLUSIVE MODE")
        if await conn.fetchval("SELECT to_regclass($1)", name) is not None:
            return None
        state = await inspect(conn, spec.name)
        default = state.default if state is not None else None
        await conn.execute(
            f"CREATE TABLE {_ident(name)} (LIKE {parent} INCLUDING DEFAULTS "
            "INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING COMPRESSION)"
        )
        moved = 0
        if default is not None:
            source = _ident(default.name)
            await conn.execute(f"LOCK TABLE {source} IN ACCESS EXCLUSIVE MODE")
            key = _ident(spec.key)
            where = f"{key} >= {_literal(lo)} AND {key} < {_literal(hi)}"
            if await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM {source} WHERE {where})"):
                cols = await _columns(conn, spec.name)
                status = await conn.execute(
                    f"INSERT INTO {_ident(name)} ({cols}) SELECT {cols} FROM {source} WHERE {where}"
                )
                moved = int(status.split()[-1])
                await conn.execute(f"DELETE FROM {source} WHERE {where}")
        await conn.execute(
            f"ALTER TABLE {parent} ATTACH PARTITION {_ident(name)} "
            f"FOR VALUES FROM ({_literal(lo)}) TO ({_literal(hi)})"
        )
    return moved


# -- dropping a range -------------------------------------------------------------------------


async def detach(conn: asyncpg.Connection, spec: TableSpec, part: Partition) -> bool:
    """Detach an expired partition and mark it for :func:`finish_detached`. False (nothing
    changed) when rows that must stay are in it (an outbox partition with deliveries still
    open). Takes ACCESS EXCLUSIVE on the parent for the moment it needs (DETACH ...
    CONCURRENTLY is not allowed beside a DEFAULT partition)."""
    parent = _ident(spec.name)
    async with _ddl(conn):
        await lock_unqueued(conn, [parent, *await referenced_tables(conn, parent)])
        if spec.blocked_by is not None and await conn.fetchval(
            f"SELECT EXISTS (SELECT 1 FROM {_ident(part.name)} WHERE {spec.blocked_by})"
        ):
            return False
        await conn.execute(f"ALTER TABLE {parent} DETACH PARTITION {_ident(part.name)}")
        await conn.execute(f"COMMENT ON TABLE {_ident(part.name)} IS '{DETACHED_MARK}{spec.name}'")
    return True


_DETACHED = """
SELECT c.relname AS name, substr(d.description, length($1) + 1) AS parent,
       GREATEST(c.reltuples, 0)::bigint AS estimate
  FROM pg_description d
  JOIN pg_class c ON c.oid = d.objoid AND d.classoid = 'pg_class'::regclass AND d.objsubid = 0
 WHERE starts_with(d.description, $1) AND c.relkind = 'r'
   AND c.relnamespace = current_schema()::regnamespace
 ORDER BY c.relname
"""


@dataclass(frozen=True)
class Dropped:
    table: str
    partition: str
    rows: int  # counted by the rollup; otherwise the planner's estimate


async def finish_detached(conn: asyncpg.Connection) -> list[Dropped]:
    """Roll up and drop every table detached for dropping, each in one transaction (what
    it held is added to ``prediction_model_daily_stats`` exactly when it goes)."""
    done: list[Dropped] = []
    for row in await conn.fetch(_DETACHED, DETACHED_MARK):
        spec = SPECS.get(row["parent"])
        if spec is None:
            continue
        async with _ddl(conn):
            rows = int(row["estimate"])
            if spec.rollup is not None:
                rows = await rollup_repo.add_table(conn, spec.rollup, _ident(row["name"]))
            # after the rollup's scan: the lock on the referenced tables is held only for
            # the drop and the commit
            await lock_unqueued(conn, await referenced_tables(conn, _ident(row["name"])))
            await conn.execute(f"DROP TABLE {_ident(row['name'])}")
        done.append(Dropped(spec.name, row["name"], rows))
    return done


# -- converting a plain table ---------------------------------------------------------------


class ConversionError(RuntimeError):
    """A table cannot be converted as it is (the message says why and what to do)."""


@dataclass(frozen=True)
class _Index:
    name: str
    definition: str
    columns: list[str]
    primary: bool
    unique: bool
    constraint: str | None  # the constraint that owns the index (PK, UNIQUE)
    plain: bool  # on columns only (no expression, no predicate)


_INDEXES = """
SELECT ic.relname AS name, pg_get_indexdef(i.indexrelid) AS definition,
       i.indisprimary AS primary, i.indisunique AS unique, con.conname AS constraint,
       i.indexprs IS NULL AND i.indpred IS NULL AS plain, i.indisvalid AS valid,
       ARRAY(SELECT a.attname::text
               FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(n, o)
               JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n
              ORDER BY k.o) AS columns
  FROM pg_index i
  JOIN pg_class ic ON ic.oid = i.indexrelid
  LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid
 WHERE i.indrelid = to_regclass($1)
 ORDER BY ic.relname
"""


async def _indexes(conn: asyncpg.Connection, table: str) -> list[tuple[_Index, bool]]:
    """Every index of a table, with whether it is valid."""
    return [
        (
            _Index(
                r["name"],
                r["definition"],
                list(r["columns"]),
                r["primary"],
                r["unique"],
                r["constraint"],
                r["plain"],
            ),
            bool(r["valid"]),
        )
        for r in await conn.fetch(_INDEXES, table)
    ]


def _needs_key(index: _Index, key: str) -> bool:
    """A unique index without the partition key: it gets a twin with the key added."""
    return index.unique and key not in index.columns


def _twin(index: _Index) -> str:
    return _suffixed(index.name, "_part")


def _range_check(table: str) -> str:
    return _suffixed(table, "_legacy_range")


async def _preflight(conn: asyncpg.Connection, spec: TableSpec) -> None:
    """Refuse what the conversion would break: tables or views that depend on the table,
    identity columns (the parent would get a sequence of its own), indexes it cannot carry."""
    refs = await conn.fetch(
        "SELECT conname, conrelid::regclass::text AS source FROM pg_constraint "
        "WHERE confrelid = to_regclass($1) AND contype = 'f'",
        spec.name,
    )
    if refs:
        names = ", ".join(f"{r['source']}.{r['conname']}" for r in refs)
        raise ConversionError(
            f"{spec.name}: foreign keys refer to it ({names}); a key referring to a "
            f"partitioned table must include {spec.key}: change them first"
        )
    views = await conn.fetch(
        "SELECT DISTINCT r.ev_class::regclass::text AS view FROM pg_depend d "
        "JOIN pg_rewrite r ON r.oid = d.objid "
        "WHERE d.classid = 'pg_rewrite'::regclass AND d.refobjid = to_regclass($1) "
        "AND r.ev_class <> d.refobjid",
        spec.name,
    )
    if views:
        raise ConversionError(
            f"{spec.name}: views depend on it ({', '.join(r['view'] for r in views)}): "
            "drop them, convert, create them again"
        )
    if await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1) "
        "AND attnum > 0 AND attidentity <> '')",
        spec.name,
    ):
        raise ConversionError(f"{spec.name}: identity columns are not supported (use a sequence)")
    for index, _ in await _indexes(conn, spec.name):
        if _needs_key(index, spec.key) and not index.plain:
            raise ConversionError(
                f"{spec.name}: unique index {index.name} has an expression or a predicate "
                f"and no {spec.key}: it cannot be carried over"
            )


async def _swap(
    conn: asyncpg.Connection,
    spec: TableSpec,
    *,
    cutoff: datetime | None,
    first: datetime,
    ranges: Sequence[tuple[datetime, datetime]],
) -> None:
    """In the caller's transaction, with ACCESS EXCLUSIVE on the table held: the plain table
    becomes ``<table>_legacy``, a partitioned table of the same name and shape takes its
    place (columns, defaults, checks, indexes, foreign keys, triggers, sequences), and the
    old one is attached as the partition ``[MINVALUE, cutoff)`` - or dropped when ``cutoff``
    is None (it was empty). Then the DEFAULT partition and ``ranges``."""
    table, key = spec.name, spec.key
    legacy = _suffixed(table, "_legacy")
    found = [index for index, _ in await _indexes(conn, table)]
    twins = {_twin(i) for i in found if _needs_key(i, key)}
    indexes = [i for i in found if i.name not in twins]
    fks = await conn.fetch(
        "SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint "
        "WHERE conrelid = to_regclass($1) AND contype = 'f' ORDER BY conname",
        table,
    )
    triggers = await conn.fetch(
        "SELECT tgname, pg_get_triggerdef(oid) AS def FROM pg_trigger "
        "WHERE tgrelid = to_regclass($1) AND NOT tgisinternal ORDER BY tgname",
        table,
    )
    sequences = await conn.fetch(
        "SELECT s.oid::regclass::text AS seq, a.attname FROM pg_depend d "
        "JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S' "
        "JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid "
        "WHERE d.classid = 'pg_class'::regclass AND d.refobjid = to_regclass($1) "
        "AND d.deptype = 'a'",
        table,
    )
    t, old = _ident(table), _ident(legacy)
    await conn.execute(f"ALTER TABLE {t} RENAME TO {old}")
    if cutoff is not None:
        # the old table gives up the names its replacement takes over
        for index in indexes:
            await _retire(conn, old, legacy, index, key)
    for trigger in triggers:  # the parent's triggers are cloned onto its partitions
        await conn.execute(f"DROP TRIGGER {_ident(trigger['tgname'])} ON {old}")
    await conn.execute(
        f"CREATE TABLE {t} (LIKE {old} INCLUDING DEFAULTS INCLUDING CONSTRAINTS "
        "INCLUDING STORAGE INCLUDING COMPRESSION INCLUDING COMMENTS INCLUDING GENERATED) "
        f"PARTITION BY RANGE ({_ident(key)})"
    )
    check = _range_check(table)
    await conn.execute(f"ALTER TABLE {t} DROP CONSTRAINT IF EXISTS {_ident(check)}")
    for row in sequences:  # a sequence owned by the old table's column would go with it
        await conn.execute(f"ALTER SEQUENCE {row['seq']} OWNED BY {t}.{_ident(row['attname'])}")
    if cutoff is None:
        await conn.execute(f"DROP TABLE {old}")
    for index in indexes:
        cols = index.columns + ([key] if _needs_key(index, key) else [])
        col_list = ", ".join(_ident(c) for c in cols)
        if index.primary:
            name = index.constraint or _suffixed(table, "_pkey")
            await conn.execute(
                f"ALTER TABLE {t} ADD CONSTRAINT {_ident(name)} PRIMARY KEY ({col_list})"
            )
        elif _needs_key(index, key):
            await conn.execute(f"CREATE UNIQUE INDEX {_ident(index.name)} ON {t} ({col_list})")
        elif index.constraint is not None:
            await conn.execute(
                f"ALTER TABLE {t} ADD CONSTRAINT {_ident(index.constraint)} UNIQUE ({col_list})"
            )
        else:
            await conn.execute(index.definition)
    for fk in fks:
        await conn.execute(f"ALTER TABLE {t} ADD CONSTRAINT {_ident(fk['conname'])} {fk['def']}")
    for trigger in triggers:
        await conn.execute(trigger["def"])
    if cutoff is not None:
        # no scan: the validated CHECK constraint proves the range
        await conn.execute(
            f"ALTER TABLE {t} ATTACH PARTITION {old} FOR VALUES FROM (MINVALUE) "
            f"TO ({_literal(cutoff)})"
        )
        await conn.execute(f"ALTER TABLE {old} DROP CONSTRAINT {_ident(check)}")
    await conn.execute(
        f"CREATE TABLE {_ident(_suffixed(table, '_default'))} PARTITION OF {t} DEFAULT"
    )
    for lo, hi in ranges:
        if lo < first:
            continue
        await conn.execute(
            f"CREATE TABLE {_ident(partition_name(table, lo))} PARTITION OF {t} "
            f"FOR VALUES FROM ({_literal(lo)}) TO ({_literal(hi)})"
        )


async def _retire(conn: asyncpg.Connection, old: str, legacy: str, index: _Index, key: str) -> None:
    """Rename (or replace by its twin with the key) one index of the table that becomes
    the legacy partition, so the partitioned table can take the original name."""
    pkey = _ident(_suffixed(legacy, "_pkey"))
    if _needs_key(index, key):
        # the key-less unique index goes; its twin (built beforehand, with the key) stays
        if index.constraint is not None:
            await conn.execute(f"ALTER TABLE {old} DROP CONSTRAINT {_ident(index.constraint)}")
        else:
            await conn.execute(f"DROP INDEX {_ident(index.name)}")
        twin = _ident(_twin(index))
        if index.primary:
            await conn.execute(
                f"ALTER TABLE {old} ADD CONSTRAINT {pkey} PRIMARY KEY USING INDEX {twin}"
            )
        else:
            await conn.execute(
                f"ALTER INDEX {twin} RENAME TO {_ident(_suffixed(index.name, '_legacy'))}"
            )
    elif index.constraint is not None:
        new = pkey if index.primary else _ident(_suffixed(index.constraint, "_legacy"))
        await conn.execute(
            f"ALTER TABLE {old} RENAME CONSTRAINT {_ident(index.constraint)} TO {new}"
        )
    else:
        await conn.execute(
            f"ALTER INDEX {_ident(index.name)} RENAME TO {_ident(_suffixed(index.name, '_legacy'))}"
        )


_CUTOFF = re.compile(r"'([^']*)'::timestamp with time zone")


async def _existing_cutoff(conn: asyncpg.Connection, table: str) -> tuple[datetime, bool] | None:
    row = await conn.fetchrow(
        "SELECT pg_get_constraintdef(oid) AS def, convalidated FROM pg_constraint "
        "WHERE conrelid = to_regclass($1) AND conname = $2",
        table,
        _range_check(table),
    )
    if row is None:
        return None
    found = _CUTOFF.search(row["def"])
    if found is None:
        return None
    at = await conn.fetchval("SELECT $1::timestamptz", found.group(1))
    return at, bool(row["convalidated"])


async def _prepare(
    conn: asyncpg.Connection, spec: TableSpec, *, interval: timedelta, now: datetime
) -> datetime:
    """The slow part, outside any transaction and with weak locks only: the unique indexes
    the partitioned table needs (with the key) built CONCURRENTLY, and a CHECK constraint
    proving every row is older than the cutoff, added NOT VALID and then VALIDATEd (a scan
    under SHARE UPDATE EXCLUSIVE). Returns the cutoff. Can be run again after a failure."""
    table, key = spec.name, spec.key
    found = await _indexes(conn, table)
    valid = {i.name: ok for i, ok in found}
    for index, _ in found:
        if not _needs_key(index, key):
            continue
        twin = _twin(index)
        if twin in valid and not valid[twin]:  # a CONCURRENTLY build that failed
            await conn.execute(f"DROP INDEX CONCURRENTLY {_ident(twin)}")
            del valid[twin]
        if twin not in valid:
            cols = ", ".join(_ident(c) for c in [*index.columns, key])
            logger.info("%s: building unique index %s (%s) concurrently", table, twin, cols)
            await conn.execute(
                f"CREATE UNIQUE INDEX CONCURRENTLY {_ident(twin)} ON {_ident(table)} ({cols})"
            )
            valid[twin] = True
    margin = max(interval, timedelta(hours=1))
    existing = await _existing_cutoff(conn, table)
    if existing is not None and existing[0] < now + margin / 2:
        # left by an attempt long ago: rows newer than it may arrive any moment
        await _with_lock_timeout(
            conn, f"ALTER TABLE {_ident(table)} DROP CONSTRAINT {_ident(_range_check(table))}"
        )
        existing = None
    if existing is None:
        cutoff = align_up(now + margin, interval)
        newest = await conn.fetchval(f"SELECT max({_ident(key)}) FROM {_ident(table)}")
        if newest is not None and newest >= cutoff:
            cutoff = align_up(newest + interval, interval)  # rows from the future: keep them
        await _with_lock_timeout(
            conn,
            f"ALTER TABLE {_ident(table)} ADD CONSTRAINT {_ident(_range_check(table))} "
            f"CHECK ({_ident(key)} IS NOT NULL AND {_ident(key)} < {_literal(cutoff)}) NOT VALID",
        )
        validated = False
    else:
        cutoff, validated = existing
    if not validated:
        logger.info("%s: validating that every row is older than %s", table, cutoff)
        await conn.execute(
            f"ALTER TABLE {_ident(table)} VALIDATE CONSTRAINT {_ident(_range_check(table))}"
        )
    return cutoff


async def _with_lock_timeout(conn: asyncpg.Connection, statement: str) -> None:
    async with _ddl(conn, CONVERSION_LOCK_TIMEOUT):
        await conn.execute(statement)


Conversion = Literal["partitioned", "created", "converted", "too big", "missing"]


async def convert(
    conn: asyncpg.Connection,
    spec: TableSpec,
    *,
    interval: timedelta = DEFAULT_INTERVAL,
    ahead: int = DEFAULT_AHEAD,
    now: datetime | None = None,
    max_bytes: int | None = None,
    swap_attempts: int = 5,
) -> Conversion:
    """Make ``spec``'s table partitioned (the caller holds :data:`PARTITION_LOCK_KEY`).

    An empty table is replaced in one short transaction. One with rows keeps them where
    they are: after :func:`_prepare` it becomes the legacy partition in one short
    transaction (retried ``swap_attempts`` times when it cannot get its lock). With
    ``max_bytes``, a bigger table is left as it is ("too big": ``migrate --partition``).
    """
    now = now or datetime.now(UTC)
    state = await inspect(conn, spec.name)
    if state is None:
        return "missing"
    if state.partitioned:
        return "partitioned"
    await _preflight(conn, spec)
    current = align_down(now, interval)
    ranges = wanted_ranges(None, now, interval, ahead)
    async with _ddl(conn, CONVERSION_LOCK_TIMEOUT):
        await conn.execute(f"LOCK TABLE {_ident(spec.name)} IN ACCESS EXCLUSIVE MODE")
        empty = not await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM {_ident(spec.name)})")
        if empty:
            await _swap(conn, spec, cutoff=None, first=current, ranges=ranges)
            logger.info("%s: now partitioned by %s (it was empty)", spec.name, spec.key)
            return "created"
    size = int(await conn.fetchval("SELECT pg_total_relation_size(to_regclass($1))", spec.name))
    if max_bytes is not None and size > max_bytes:
        logger.warning(
            "%s holds %d MB and is not partitioned: retention is off for it until "
            "`migrate --partition` converts it (live, docs/retention.md)",
            spec.name,
            size // 2**20,
        )
        return "too big"
    cutoff = await _prepare(conn, spec, interval=interval, now=now)
    ranges = wanted_ranges(cutoff, now, interval, ahead)
    for attempt in range(1, swap_attempts + 1):
        try:
            async with _ddl(conn, CONVERSION_LOCK_TIMEOUT):
                await conn.execute(f"LOCK TABLE {_ident(spec.name)} IN ACCESS EXCLUSIVE MODE")
                await _swap(conn, spec, cutoff=cutoff, first=cutoff, ranges=ranges)
            break
        except asyncpg.LockNotAvailableError:
            if attempt == swap_attempts:
                raise
            logger.warning("%s: the table is busy; swap attempt %d failed", spec.name, attempt)
    logger.info(
        "%s: now partitioned by %s; its %d MB of rows are the partition %s (up to %s)",
        spec.name,
        spec.key,
        size // 2**20,
        _suffixed(spec.name, "_legacy"),
        cutoff.isoformat(),
    )
    return "converted"


async def convert_all(
    conn: asyncpg.Connection,
    *,
    interval: timedelta = DEFAULT_INTERVAL,
    ahead: int = DEFAULT_AHEAD,
    max_bytes: int | None = INLINE_MAX_BYTES,
    tables: Sequence[TableSpec] = TABLES,
) -> dict[str, Conversion]:
    """:func:`convert` every table under the partition lock (waits for a keeper's round)."""
    await lock(conn)
    try:
        return {
            spec.name: await convert(
                conn, spec, interval=interval, ahead=ahead, max_bytes=max_bytes
            )
            for spec in tables
        }
    finally:
        await unlock(conn)
