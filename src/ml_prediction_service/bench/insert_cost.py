"""What the list indexes of migration 0022 cost the prediction write (docs/indexes.md): the
pipeline's own statement (``predictions_repo.insert_batch``) timed alone, with and without
those indexes, in alternating phases on one embedded PostgreSQL — so that the load of a
shared machine hits both alike. Each phase starts from an empty table and writes the same
batches (``--coins`` coins per batch, cycling through ``--universe`` coins, one prediction
per model, one transaction per batch committed without waiting for the flush, like the
workers). Reported per row: wall time, the PostgreSQL backend's CPU time (less disturbed by
other load) and WAL bytes. Prints one JSON object.

    python -m ml_prediction_service.bench.insert_cost --rounds 3 --batches 150
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from ml_prediction_service.db import budget_repo, partitions, predictions_repo
from ml_prediction_service.db.embedded import start_embedded, stop_embedded
from ml_prediction_service.db.pool import connect
from ml_prediction_service.db.schema import migrate
from ml_prediction_service.db.sqlfiles import load_sql

MIGRATION = "migrations/0022_list_indexes.sql"


def predictions_indexes(sql: str) -> dict[str, str]:
    """The statements of the migration that create an index on ``predictions``, by name."""
    found = re.finditer(r"(CREATE INDEX IF NOT EXISTS (\w+)\s+ON predictions\b[^;]*;)", sql)
    return {m.group(2): m.group(1) for m in found}


def make_batch(
    coins: list[str], at: datetime, models: list[tuple[int, int]], rng: random.Random
) -> predictions_repo.PredictionBatch:
    n = len(coins) * len(models)
    probability = [round(rng.random() ** 4, 4) for _ in range(n)]
    alert = [p >= 0.7 for p in probability]
    return predictions_repo.PredictionBatch(
        coin_ids=coins,
        data_timestamps=[at + timedelta(microseconds=i) for i in range(len(coins))],
        phase_ids=[1] * len(coins),
        received_at=[at] * len(coins),
        stale=[False] * len(coins),
        model_ids=[m for m, _ in models],
        active_model_ids=[a for _, a in models],
        thresholds=[0.7] * len(models),
        coin=[c for _ in models for c in range(len(coins))],
        model=[m for m in range(len(models)) for _ in coins],
        probability=probability,
        prediction=[int(p > 0.5) for p in probability],
        is_alert=alert,
        tag=[2 if a else int(p > 0.5) for p, a in zip(probability, alert, strict=True)],
        suppressed=[False] * n,
        duration_ms=3,
    )


def backend_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a PostgreSQL backend process (Linux /proc): much less
    sensitive to other processes' load than wall time."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _phase(
    conn: asyncpg.Connection, args: argparse.Namespace, models: list[tuple[int, int]]
) -> tuple[float, float, int]:
    """Wall seconds, the backend's CPU seconds and the WAL bytes for all batches into an
    empty table."""
    await conn.execute("TRUNCATE predictions")
    await conn.execute("VACUUM (ANALYZE) predictions")
    rng = random.Random(5)
    universe = [f"COST{i:06d}{'x' * 34}" for i in range(args.universe)]
    start = datetime.now(UTC) - timedelta(minutes=30)
    batches = [
        make_batch(
            [universe[(b * args.coins + i) % args.universe] for i in range(args.coins)],
            start + timedelta(seconds=b),
            models,
            rng,
        )
        for b in range(args.batches)
    ]
    pid = await conn.fetchval("SELECT pg_backend_pid()")
    lsn0 = await conn.fetchval("SELECT pg_current_wal_insert_lsn()::text")
    cpu0, t0 = backend_cpu_seconds(pid), time.perf_counter()
    for batch in batches:
        async with conn.transaction():
            await predictions_repo.insert_batch(conn, batch, [])
    wall, cpu = time.perf_counter() - t0, backend_cpu_seconds(pid) - cpu0
    wal = await conn.fetchval("SELECT pg_current_wal_insert_lsn() - $1::text::pg_lsn", lsn0)
    return wall, cpu, int(wal)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="mps-insert-cost-"))
    try:
        db = await asyncio.to_thread(start_embedded, workdir, cleanup="delete")
        conn = await connect(db.dsn)
        try:
            await migrate(conn, up_to=21)
            await partitions.convert_all(conn)
            await conn.execute("SET synchronous_commit = off")
            models = []
            for i in range(args.models):
                active = await budget_repo.add_cost_model(conn, 100 + i, f"cost-{i}")
                models.append((100 + i, int(active)))
            creates = predictions_indexes(load_sql(MIGRATION))
            names = list(creates)
            phases: dict[str, list[str]] = {"without": [], "with": names}
            if args.each:  # and each index alone
                phases |= {name: [name] for name in names}
            seconds: dict[str, list[float]] = {label: [] for label in phases}
            cpu: dict[str, list[float]] = {label: [] for label in phases}
            wal: dict[str, list[float]] = {label: [] for label in phases}
            for _ in range(args.rounds):
                for label, chosen in phases.items():
                    for name in names:
                        await budget_repo.drop_index(conn, name)
                    for name in chosen:
                        await conn.execute(creates[name])
                    w, c, b = await _phase(conn, args, models)
                    seconds[label].append(w)
                    cpu[label].append(c)
                    wal[label].append(float(b))
        finally:
            await conn.close()
    finally:
        await asyncio.to_thread(stop_embedded, workdir)
        await asyncio.to_thread(shutil.rmtree, workdir, True)
    rows = args.batches * args.coins * args.models

    def per_row(values: dict[str, list[float]], scale: float) -> dict[str, list[float]]:
        return {k: [round(scale * x / rows, 2) for x in v] for k, v in values.items()}

    def more_pct(values: dict[str, list[float]]) -> dict[str, float]:
        median = {k: statistics.median(v) for k, v in values.items()}
        return {k: round(100 * (v / median["without"] - 1), 1) for k, v in median.items()}

    wall_us, cpu_us, wal_b = per_row(seconds, 1e6), per_row(cpu, 1e6), per_row(wal, 1)
    return {
        "rows_per_phase": rows,
        "indexes": names,
        "wall_us_per_row": wall_us,
        "backend_cpu_us_per_row": cpu_us,
        "wal_bytes_per_row": wal_b,
        "wall_more_pct": more_pct(wall_us),
        "backend_cpu_more_pct": more_pct(cpu_us),
        "wal_more_pct": more_pct(wal_b),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml_prediction_service.bench.insert_cost")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batches", type=int, default=150)
    parser.add_argument("--coins", type=int, default=100, help="coins per batch (100)")
    parser.add_argument("--universe", type=int, default=2000, help="distinct coins (2000)")
    parser.add_argument("--models", type=int, default=10)
    parser.add_argument("--each", action="store_true", help="also time each index alone")
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(run(args)), indent=1), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
