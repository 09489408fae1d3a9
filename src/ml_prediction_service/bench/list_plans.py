"""EXPLAIN (ANALYZE, BUFFERS) of every list query of the API, on a realistic amount of rows
in daily partitions, before and after a migration (docs/indexes.md).

Its own embedded PostgreSQL: the schema up to ``--before`` (default 21: without the list
indexes of 0022), ``--events`` coin events over ``--days`` days with one prediction per model
(the data is ``db/sql/bench/list_plans_data.sql``), VACUUM (ANALYZE) — the state autovacuum
keeps a table in —, the plans of the page query and the count of each listing; then the
remaining migrations (timed: the index builds) and the same plans again. The queries are the
repositories' own (an executor that EXPLAINs what it is asked to run), so the plans stay
those of the code. Prints one JSON object; ``--plans-out`` writes every plan as text.

    python -m ml_prediction_service.bench.list_plans --events 60000 --plans-out plans.txt
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import asyncpg

from ml_prediction_service.db import (
    budget_repo,
    coins_repo,
    partitions,
    predictions_repo,
    webhooks_repo,
)
from ml_prediction_service.db.embedded import start_embedded, stop_embedded
from ml_prediction_service.db.filters import Filter, condition, fetch_page
from ml_prediction_service.db.pool import Executor, connect
from ml_prediction_service.db.schema import migrate
from ml_prediction_service.db.sqlfiles import load_sql
from ml_prediction_service.stand_ins.ddl import create_dev_schema

TABLES = (
    "predictions",
    "prediction_webhook_outbox",
    "prediction_webhook_log",
    "prediction_evaluations",
    "coin_metrics",
)


class Explainer:
    """Stands in for a connection: EXPLAINs each statement it is given and keeps the plan;
    returns no rows (a count of 0). Lookups a listing makes before its query (``PASSED``)
    run for real."""

    PASSED = frozenset({predictions_repo.MODEL_OF_ACTIVE})

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.plans: list[str] = []

    async def _explain(self, sql: str, args: tuple[Any, ...]) -> None:
        rows = await self.conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + sql, *args)
        self.plans.append("\n".join(r[0] for r in rows))

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        await self._explain(sql, args)
        return []

    async def fetchval(self, sql: str, *args: Any) -> Any:
        if sql in self.PASSED:
            return await self.conn.fetchval(sql, *args)
        await self._explain(sql, args)
        return 0

    async def fetchrow(self, sql: str, *args: Any) -> None:
        await self._explain(sql, args)


_SCAN = re.compile(
    r"(?:Parallel )?Seq Scan on (\S+)|"
    r"(?:Parallel )?Index (?:Only )?Scan(?: Backward)? using (\S+)|"
    r"Bitmap Index Scan on (\S+)"
)


def summarize(plan: str, roots: dict[str, str], empty: frozenset[str]) -> dict[str, Any]:
    """What a plan reads: tables scanned sequentially (not counting ``empty`` ones: the
    partitions ahead) and indexes used, by the names of their partitioned parents
    (``roots``: an index used on every partition is named once), the execution time and the
    shared buffers (hit + read) of the whole statement."""
    seq: set[str] = set()
    used: set[str] = set()
    for m in _SCAN.finditer(plan):
        if m.group(1):
            if m.group(1) not in empty:
                seq.add(roots.get(m.group(1), m.group(1)))
        else:
            name = m.group(2) or m.group(3)
            used.add(roots.get(name, name))
    ms = re.search(r"Execution Time: ([\d.]+) ms", plan)
    buffers = re.search(r"Buffers: shared((?: \w+=\d+)+)", plan)
    blocks = sum(int(x) for x in re.findall(r"=(\d+)", buffers.group(1))) if buffers else 0
    return {
        "seq_scans": sorted(seq),
        "indexes": sorted(used),
        "ms": float(ms.group(1)) if ms else None,
        "shared_buffers": blocks,
    }


@dataclass(frozen=True)
class EvaluationFilter(Filter):
    """The filters GET /api/evaluations is expected to offer (another change adds it): the
    shape of its page and count on prediction_evaluations, for the plans only."""

    active_model_id: int | None = condition("e.active_model_id")
    coin_id: str | None = condition("e.coin_id")
    is_alert: bool | None = condition("e.is_alert")
    since: datetime | None = condition("e.data_timestamp", ">=")


async def _evaluations(ex: Executor, flt: EvaluationFilter) -> None:
    await fetch_page(
        ex,
        flt,
        columns="e.*",
        source="prediction_evaluations e",
        count_source="prediction_evaluations e",
        order_by="e.data_timestamp DESC, e.prediction_id DESC",
        limit=100,
        offset=0,
    )


@dataclass
class World:
    """Values the cases filter by, read from the data."""

    coin: str
    model_id: int
    active_model_id: int
    outbox_id: int
    prediction_id: int
    day_start: datetime
    newest: datetime
    extra: dict[str, Any] = field(default_factory=dict)


Case = Callable[[Executor, World], Awaitable[Any]]
P = predictions_repo.PredictionFilter
L = webhooks_repo.LogFilter


def _predictions(**kw: Any) -> Case:
    async def case(ex: Executor, w: World) -> None:
        values = {k: (v(w) if callable(v) else v) for k, v in kw.items()}
        await predictions_repo.list_predictions(ex, P(**values), limit=100, offset=0)

    return case


def _log(**kw: Any) -> Case:
    async def case(ex: Executor, w: World) -> None:
        values = {k: (v(w) if callable(v) else v) for k, v in kw.items()}
        await webhooks_repo.list_log(ex, L(**values), limit=100, offset=0)

    return case


def _deliveries(status: str | None = None, coin: bool = False) -> Case:
    async def case(ex: Executor, w: World) -> None:
        await webhooks_repo.list_deliveries(
            ex, status=status, coin_id=w.coin if coin else None, limit=100, offset=0
        )

    return case


def _eval(**kw: Any) -> Case:
    async def case(ex: Executor, w: World) -> None:
        values = {k: (v(w) if callable(v) else v) for k, v in kw.items()}
        await _evaluations(ex, EvaluationFilter(**values))

    return case


async def _coin_metrics(ex: Executor, w: World) -> None:
    await coins_repo.coin_metrics(ex, w.coin, since=None, until=None, limit=500)


async def _latest(ex: Executor, w: World) -> None:
    await predictions_repo.latest_for_coin(ex, w.coin)


async def _by_id(ex: Executor, w: World) -> None:
    await predictions_repo.get_prediction(ex, w.prediction_id)


def _hour(w: World) -> datetime:
    return w.day_start + timedelta(hours=12)


CASES: dict[str, Case] = {
    "GET /api/predictions": _predictions(),
    "GET /api/predictions?coin_id": _predictions(coin_id=lambda w: w.coin),
    "GET /api/predictions?model_id": _predictions(model_id=lambda w: w.model_id),
    "GET /api/predictions?active_model_id": _predictions(
        active_model_id=lambda w: w.active_model_id
    ),
    "GET /api/predictions?is_alert=true": _predictions(is_alert=True),
    "GET /api/predictions?from&to (1 hour)": _predictions(
        since=_hour, until=lambda w: _hour(w) + timedelta(hours=1)
    ),
    "GET /api/predictions?model_id&from (1 day)": _predictions(
        model_id=lambda w: w.model_id, since=lambda w: w.newest - timedelta(days=1)
    ),
    "GET /api/predictions?active_model_id&is_alert=true": _predictions(
        active_model_id=lambda w: w.active_model_id, is_alert=True
    ),
    "GET /api/predictions/latest/{coin_id}": _latest,
    "GET /api/predictions/{id}": _by_id,
    "GET /api/coins/{coin_id}/metrics": _coin_metrics,
    "GET /api/webhooks/log": _log(),
    "GET /api/webhooks/log?coin_id": _log(coin_id=lambda w: w.coin),
    "GET /api/webhooks/log?outbox_id": _log(outbox_id=lambda w: w.outbox_id),
    "GET /api/webhooks/log?outcome=failed": _log(outcome="failed"),
    "GET /api/webhooks/log?from (1 hour)": _log(since=lambda w: w.newest - timedelta(hours=1)),
    "GET /api/webhooks/outbox/deliveries": _deliveries(),
    "GET /api/webhooks/outbox/deliveries?status=failed": _deliveries("failed"),
    "GET /api/webhooks/outbox/deliveries?coin_id": _deliveries(coin=True),
    "GET /api/evaluations (shape)": _eval(),
    "GET /api/evaluations?active_model_id (shape)": _eval(
        active_model_id=lambda w: w.extra["horizon_model"]
    ),
    "GET /api/evaluations?coin_id (shape)": _eval(coin_id=lambda w: w.coin),
    "GET /api/evaluations?is_alert=true (shape)": _eval(is_alert=True),
}


async def load_data(
    conn: asyncpg.Connection, *, models: int, events: int, coins: int, days: int
) -> World:
    """Partitions for ``days`` days up to the end of today, then the rows (see the SQL)."""
    interval = timedelta(days=1)
    today = partitions.align_down(datetime.now(UTC), interval)
    for spec in partitions.TABLES:
        for back in range(days - 1, 0, -1):
            lo = today - back * interval
            await partitions.create_partition(conn, spec, lo, lo + interval)
    for name, value in (("models", models), ("events", events), ("coins", coins), ("days", days)):
        await conn.execute("SELECT set_config($1, $2, false)", f"plans.{name}", str(value))
    await conn.execute(load_sql("bench/list_plans_data.sql"))
    for table in TABLES:
        await conn.execute(f"VACUUM (ANALYZE) {table}")
    row = await budget_repo.plan_values(conn)
    return World(
        coin=row["coin"],
        model_id=row["model_id"],
        active_model_id=row["active_model_id"],
        outbox_id=row["outbox_id"],
        prediction_id=row["prediction_id"],
        day_start=today - (days // 2) * interval,
        newest=row["newest"],
        extra={"horizon_model": row["horizon_model"]},
    )


async def explain_all(conn: asyncpg.Connection, world: World) -> dict[str, dict[str, Any]]:
    """Per case: the plan of each statement it runs (page, count), summarized and in full."""
    roots, empty = await budget_repo.root_names(conn)
    out = {}
    for name, case in CASES.items():
        ex = Explainer(conn)
        await case(cast(Executor, ex), world)
        summaries = [summarize(p, roots, empty) for p in ex.plans]
        out[name] = {"plans": ex.plans, "statements": summaries}
    return out


async def row_counts(conn: asyncpg.Connection) -> dict[str, int]:
    counts = {}
    for table in TABLES:
        counts[table] = await budget_repo.count_rows(conn, table)
    return counts


async def run(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="mps-plans-"))
    try:
        db = await asyncio.to_thread(start_embedded, workdir, cleanup="delete")
        conn = await connect(db.dsn)
        try:
            await migrate(conn, up_to=args.before)
            await partitions.convert_all(conn)  # migrate(up_to=…) leaves tables plain
            await create_dev_schema(conn)
            t0 = time.perf_counter()
            world = await load_data(
                conn, models=args.models, events=args.events, coins=args.coins, days=args.days
            )
            load_s = time.perf_counter() - t0
            before = await explain_all(conn, world)
            t0 = time.perf_counter()
            applied = await migrate(conn)
            migrate_s = time.perf_counter() - t0
            for table in TABLES:
                await conn.execute(f"ANALYZE {table}")
            after = await explain_all(conn, world)
            counts = await row_counts(conn)
        finally:
            await conn.close()
    finally:
        await asyncio.to_thread(stop_embedded, workdir)
        await asyncio.to_thread(shutil.rmtree, workdir, True)
    if args.plans_out:
        text = "".join(
            f"=== {name} [{label}, statement {i + 1}]\n{plan}\n\n"
            for name in CASES
            for label, side in (("before", before), ("after", after))
            for i, plan in enumerate(side[name]["plans"])
        )
        await asyncio.to_thread(Path(args.plans_out).write_text, text, encoding="utf-8")
    return {
        "rows": counts,
        "load_seconds": round(load_s, 1),
        "migrations_applied": applied,
        "migrate_seconds": round(migrate_s, 2),
        "cases": {
            name: {"before": before[name]["statements"], "after": after[name]["statements"]}
            for name in CASES
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml_prediction_service.bench.list_plans")
    parser.add_argument("--before", type=int, default=21, help="schema version to start at")
    parser.add_argument("--models", type=int, default=10)
    parser.add_argument("--events", type=int, default=60_000, help="coin events (60000)")
    parser.add_argument("--coins", type=int, default=3_000)
    parser.add_argument("--days", type=int, default=5, help="daily partitions with rows (5)")
    parser.add_argument("--plans-out", help="write every plan as text to this file")
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(run(args)), indent=1), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
