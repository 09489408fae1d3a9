"""The disk budget, measured (docs/disk-budget.md): bytes per stored row of every growing
table — heap, TOAST and indexes, summed over the partitions that hold rows — and what that
makes per day at a given rate of coin events.

``measure`` reads a database the pipeline has written: the benchmark's own after its run
(``bench --disk-budget``, which also fills scratch copies of the tables that are empty at
that moment), or the service's database (``disk-budget``: counts every row exactly, so run it
off-peak on a large one). ``project`` turns bytes per row and rows per event into rows/day
and GB/day.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from dataclasses import dataclass
from typing import Any

import asyncpg

from ml_prediction_service.db import budget_repo
from ml_prediction_service.db.budget_repo import TableSize

# The growing tables of the service, and the collector's (for context). The queues
# (events, evaluation due rows) do not grow: their rows are deleted once handled; their
# bytes per row size the standing backlog.
TABLES = (
    "predictions",
    "prediction_webhook_outbox",
    "prediction_webhook_log",
    "prediction_evaluations",
    "prediction_events",
    "prediction_evaluation_due",
    "coin_metrics",
)
SCRATCH_TABLES = frozenset(budget_repo.SCRATCH_FILLS)

GB = 1e9
DAY = 86_400


def _row(size: TableSize, *, measured_as: str) -> dict[str, Any]:
    per_row = (lambda b: round(b / size.rows, 1)) if size.rows else (lambda b: None)
    return {
        "rows": size.rows,
        "measured_as": measured_as,
        "bytes_per_row": per_row(size.total_bytes),
        "heap_bytes_per_row": per_row(size.heap_bytes),
        "toast_bytes_per_row": per_row(size.toast_bytes),
        "index_bytes_per_row": per_row(size.index_bytes),
        "total_bytes": size.total_bytes,
        "empty_partitions_bytes": size.empty_leaves_bytes,
        "indexes": list(size.indexes),
    }


async def measure(conn: asyncpg.Connection, *, synthesize: bool) -> dict[str, dict[str, Any]]:
    """Per table: rows, bytes per row (total and by heap / TOAST / indexes), after VACUUM
    (ANALYZE). With ``synthesize``, a table in ``SCRATCH_TABLES`` that holds no row is
    measured as a scratch copy filled from the stored predictions and coin_metrics."""
    out: dict[str, dict[str, Any]] = {}
    for table in TABLES:
        if not await budget_repo.exists(conn, table):
            continue
        await budget_repo.vacuum_analyze(conn, table)
        size = await budget_repo.table_size(conn, table)
        how = "stored rows"
        if not size.rows and synthesize and table in SCRATCH_TABLES:
            size = await budget_repo.scratch_size(conn, table)
            how = "scratch copy filled from the run's rows"
        out[table] = _row(size, measured_as=how)
    return out


@dataclass(frozen=True)
class RowsPerEvent:
    """How many rows one coin event adds to each growing table."""

    predictions: float  # active models whose phases include the snapshot's
    evaluations: float  # predictions of models with a horizon (future_minutes)
    outbox: float  # deliveries: ~1 per event per URL with "all", the alerting events' share
    # with "alerts_only", 0 without webhooks
    log: float  # delivery attempts per event (1 per delivery without retries)


def project(
    budget: dict[str, dict[str, Any]], rates: list[float], per_event: RowsPerEvent
) -> list[dict[str, Any]]:
    """Rows/day and GB/day per table at each rate (coin events per second)."""
    share = {
        "predictions": per_event.predictions,
        "prediction_evaluations": per_event.evaluations,
        "prediction_webhook_outbox": per_event.outbox,
        "prediction_webhook_log": per_event.log,
        "coin_metrics": 1.0,
    }
    rows = []
    for rate in rates:
        tables = {}
        for table, per in share.items():
            bpr = budget.get(table, {}).get("bytes_per_row")
            if bpr is None:
                continue
            n = rate * DAY * per
            tables[table] = {"rows_per_day": round(n), "gb_per_day": round(n * bpr / GB, 2)}
        service = sum(v["gb_per_day"] for t, v in tables.items() if t != "coin_metrics")
        rows.append({"events_per_s": rate, "tables": tables, "service_gb_per_day": service})
    return rows


def retention_days(
    disk_gb: float,
    daily_gb: dict[str, float],
    fixed_days: dict[str, float],
    *,
    headroom: float = 0.2,
) -> float:
    """Days N of retention for the tables of ``daily_gb`` without a fixed retention, so that
    everything fits into ``disk_gb`` with ``headroom`` left free (WAL, vacuum, a partition
    being dropped). A table keeps up to retention + 1 day (the current, partly filled
    partition; a partition goes when its whole range is past retention):

        disk × (1 − headroom) = Σ_fixed daily × (days + 1) + Σ_rest daily × (N + 1)
    """
    usable = disk_gb * (1 - headroom)
    fixed = sum(daily_gb[t] * (d + 1) for t, d in fixed_days.items() if t in daily_gb)
    rest = sum(v for t, v in daily_gb.items() if t not in fixed_days)
    if rest <= 0:
        raise ValueError("no table left to size")
    return (usable - fixed) / rest - 1


def parse_rates(text: str) -> list[float]:
    try:
        rates = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text}") from None
    if not rates or any(r <= 0 for r in rates):
        raise argparse.ArgumentTypeError(f"rates must be positive numbers, got {text}")
    return rates


async def run_live(dsn: str, args: argparse.Namespace) -> dict[str, Any]:
    """``disk-budget``: measure the service's database (no scratch tables), and project."""
    from ml_prediction_service.db.pool import connect

    conn = await connect(dsn)
    try:
        budget = await measure(conn, synthesize=False)
    finally:
        await conn.close()
    per_event = RowsPerEvent(
        predictions=args.models,
        evaluations=args.horizon_models,
        outbox=args.outbox_per_event,
        log=args.outbox_per_event * args.attempts_per_delivery,
    )
    return {
        "tables": budget,
        "rows_per_event": per_event.__dict__,
        "projection": project(budget, args.rates, per_event),
    }


def main(dsn: str, args: argparse.Namespace) -> int:
    print(json.dumps(asyncio.run(run_live(dsn, args)), indent=1), flush=True)
    return 0
