"""The benchmark run: its own embedded database, simulated coins, M trained models, a
collector process inserting at a target rate, the real service in this process, and the
naive per-event path measured afterwards on the same data. Prints progress lines and, last,
one JSON object."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import asyncpg

from ml_prediction_service.alerts.delivery import encode
from ml_prediction_service.alerts.payload import OutgoingPrediction, build_payload
from ml_prediction_service.bench.cpu import CpuMeter
from ml_prediction_service.bench.disk_budget import measure as measure_disk_budget
from ml_prediction_service.bench.memory import rss_mb, store_figures
from ml_prediction_service.config import Settings
from ml_prediction_service.db import (
    events_repo,
    metrics_repo,
    predictions_repo,
    system_repo,
    webhooks_repo,
)
from ml_prediction_service.db.embedded import start_embedded, stop_embedded
from ml_prediction_service.db.pool import connect
from ml_prediction_service.db.schema import install_coin_metrics_trigger, migrate
from ml_prediction_service.httpserve import serving
from ml_prediction_service.service import Service
from ml_prediction_service.stand_ins.ddl import create_dev_schema
from ml_prediction_service.stand_ins.simulator import SimConfig
from ml_prediction_service.stand_ins.stream import simulate_frame
from ml_prediction_service.stand_ins.training import train_demo_model
from ml_prediction_service.stand_ins.training_service import create_app as training_app


def say(message: str) -> None:
    print(f"[bench] {message}", flush=True)


async def train_models(conn: asyncpg.Connection, models_dir: Path, count: int) -> list[int]:
    """``count`` demo models in ``ml_models`` (alternately Random Forest and XGBoost)."""
    history = await asyncio.to_thread(
        simulate_frame, SimConfig(n_coins=24, seed=7, launch_span_seconds=600.0)
    )
    ids = []
    for i in range(count):
        kind: Literal["random_forest", "xgboost"] = "random_forest" if i % 2 == 0 else "xgboost"
        target: Literal["rule", "time"] = "rule" if i % 4 < 2 else "time"
        started = time.perf_counter()
        info = await train_demo_model(
            conn,
            models_dir,
            kind,
            target,
            name=f"bench-{kind}-{target}-{i}",
            seed=100 + i,
            history=history,
        )
        ids.append(int(info["id"]))
        say(
            f"trained model {i + 1}/{count}: {kind}/{target} in "
            f"{time.perf_counter() - started:.1f}s"
        )
    return ids


@asynccontextmanager
async def scratch_database(
    prefix: str = "mps-bench-", *, statement_stats: bool = False
) -> AsyncIterator[tuple[Path, str]]:
    """A fresh temporary folder with an embedded PostgreSQL that tracks commit timestamps
    (and, with ``statement_stats``, loads ``pg_stat_statements``): ``(folder, dsn)``. Both
    are gone afterwards (the database is hundreds of MB after a run)."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        db = await asyncio.to_thread(start_embedded, workdir, cleanup="delete")
        # commit timestamps let the latency be measured from commit to commit (needs a restart)
        conn = await connect(db.dsn)
        await system_repo.track_commit_timestamps(conn)
        if statement_stats:
            await system_repo.load_statement_stats(conn)
        await conn.close()
        await asyncio.to_thread(stop_embedded, workdir)
        db = await asyncio.to_thread(start_embedded, workdir, cleanup="delete")
        say(f"embedded PostgreSQL at {db.dsn}")
        yield workdir, db.dsn
    finally:
        await asyncio.to_thread(stop_embedded, workdir)
        await asyncio.to_thread(shutil.rmtree, workdir, True)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    async with scratch_database(statement_stats=args.sql_profile > 0) as (workdir, dsn):
        return await _run(args, workdir, dsn)


async def _run(args: argparse.Namespace, workdir: Path, dsn: str) -> dict[str, Any]:
    conn = await connect(dsn)
    await migrate(conn)
    await create_dev_schema(conn)
    await install_coin_metrics_trigger(conn)
    model_ids = await train_models(conn, workdir / "trained", args.models)
    await conn.close()

    # the training-service stand-in on 127.0.0.1, on a port the OS picks
    async with serving("training-service stand-in", training_app(dsn)) as training:
        hooks = (
            WebhookReceiver(
                args.webhook_delay_ms,
                args.webhook_fail_every,
                args.duration + args.webhook_outage_s + 900,
            )
            if args.webhooks != "off"
            else None
        )
        settings = Settings(
            _env_file=None,
            data_dir=workdir,
            training_service_api_url=f"{training.url}/api",
            batch_size=args.batch_size,
            batch_timeout_seconds=0.5,
            pipeline_workers=args.workers,
            alert_reasons=args.alert_reasons,
            log_level="WARNING",
            n8n_webhook_url=hooks.url if hooks else None,
            webhook_concurrency=args.webhook_concurrency,
            webhook_health_max_pending_seconds=3600,
            # the default (60 s) would start the evaluator's second look after the run;
            # every 5 s it works beside the pipeline, with ~2 due windows per coin a look
            evaluation_interval_seconds=5,
            **({"coin_cache_size": args.coin_cache_size} if args.coin_cache_size else {}),
        )
        service = await Service.start(settings, dsn)
        try:
            if hooks is not None:
                await hooks.start()
            for model_id in model_ids:
                row = await service.models.import_model(model_id)
                if hooks is not None:
                    await service.models.set_webhook(row.id, send_mode=[args.webhooks])
                runtime = service.registry.runtime_info(row.id).runtime
                say(f"imported model {model_id}: {runtime}")
            drain = None
            if hooks is not None and args.webhook_drain:
                drain = await _drain(service, args.webhook_drain)
            rss_before = rss_mb()
            if args.sql_profile:
                await _with_conn(dsn, system_repo.reset_statement_stats)
            cpu = CpuMeter(workdir / "pgdata")
            result = await _measure(args, service, dsn, hooks)
            # this process (service, collector supervision) and the server, per processed event
            result["cpu_ms_per_event"] = cpu.per_event_ms(result["events_processed"])
            e = service.evaluator.stats
            # the evaluator works beside the pipeline (the placed rows' horizons have passed)
            result["evaluations"] = {
                "stored": e.stored,
                "batches": e.batches,
                "per_event": round(e.stored / max(result["events_processed"], 1), 3),
            }
            if args.sql_profile:
                result["sql_profile"] = await sql_profile(dsn, args.sql_profile)
            if drain is not None:
                result["webhook_drain"] = drain
            result["memory"] = {
                "rss_before_collector_mb": rss_before,
                "rss_after_run_mb": rss_mb(),
                **store_figures([w.cache for w in service.workers]),
            }
            if args.disk_budget:
                result["disk_budget"] = await _disk_budget(dsn, result)
            if hooks is None:
                result["naive_events_per_s"] = await _naive(args, service, dsn)
        finally:
            await service.stop()
            if hooks is not None:
                await hooks.stop()
    naive = result.get("naive_events_per_s")
    result["speedup"] = round(result["events_per_s"] / naive, 1) if naive else None
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return result


async def _with_conn(dsn: str, call: Callable[[asyncpg.Connection], Awaitable[Any]]) -> Any:
    conn = await connect(dsn)
    try:
        return await call(conn)
    finally:
        await conn.close()


async def sql_profile(dsn: str, limit: int) -> list[dict[str, Any]]:
    """The run's ``limit`` statements that took most database time (pg_stat_statements):
    calls, total and per-call milliseconds, rows, WAL bytes; the text cut at 160 chars."""
    found = await _with_conn(dsn, lambda c: system_repo.top_statements(c, limit))
    return [
        {
            "query": r["query"][:160],
            "calls": r["calls"],
            "total_ms": round(r["total_ms"]),
            "ms_per_call": round(r["total_ms"] / max(r["calls"], 1), 3),
            "rows": r["rows"],
            "wal_mb": round(r["wal_bytes"] / 2**20, 1),
        }
        for r in found
    ]


async def _disk_budget(dsn: str, result: dict[str, Any]) -> dict[str, Any]:
    """Bytes per row of the run's tables, and rows per processed event (docs/disk-budget.md)."""
    tables = await _with_conn(dsn, lambda c: measure_disk_budget(c, synthesize=True))
    events = max(result["events_processed"], 1)
    stored = ("predictions", "prediction_webhook_outbox", "prediction_webhook_log")
    return {
        "tables": tables,
        "rows_per_event": {t: round(tables[t]["rows"] / events, 3) for t in stored if t in tables},
    }


class WebhookReceiver:
    """The n8n stand-in as its own process on 127.0.0.1 (``bench/receiver.py``)."""

    def __init__(self, delay_ms: float, fail_every: int, max_seconds: float) -> None:
        self.delay_ms = delay_ms
        self.fail_every = fail_every
        self.max_seconds = max_seconds  # it stops by itself after this long
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/webhook"
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "ml_prediction_service.bench.receiver",
            *("--port", str(self.port), "--delay-ms", str(self.delay_ms)),
            *("--fail-every", str(self.fail_every)),
            *("--max-seconds", str(self.max_seconds)),
        )
        for _ in range(200):  # bounded: up to 10 s
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                return
            except OSError:
                await asyncio.sleep(0.05)
        raise RuntimeError("the benchmark's webhook receiver did not start")

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            await self.proc.wait()
        self.proc = None


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _outage(hooks: WebhookReceiver, at: float, seconds: float) -> datetime:
    """Stop the receiver ``at`` seconds into the run for ``seconds``; the recovery time."""
    await asyncio.sleep(at)
    say(f"webhook receiver down for {seconds:g}s")
    await hooks.stop()
    await asyncio.sleep(seconds)
    await hooks.start()
    say("webhook receiver back")
    return datetime.now(UTC)


async def _measure(
    args: argparse.Namespace,
    service: Service,
    dsn: str,
    hooks: WebhookReceiver | None = None,
) -> dict[str, Any]:
    env = {**os.environ, "DB_DSN": dsn, "LOG_LEVEL": "WARNING"}
    command = [
        sys.executable,
        "-m",
        "ml_prediction_service",
        "simulate",
        "--coins",
        str(args.coins),
        "--duration",
        str(args.duration),
        "--rate",
        str(args.rate),
        "--seed",
        "11",
        "--batch-size",
        str(args.insert_batch),
        "--launch-span",
        "60",
        "--progress-interval",
        str(max(args.duration, 5)),
        # the row is visible at its commit record: latency is measured from there (with a
        # synchronous commit, visibility waits for the collector's own WAL flush too)
        "--async-commit",
    ]
    say(f"collector: {' '.join(command[3:])}")
    started_events = service.events_processed
    t0 = time.monotonic()
    wall0 = datetime.now(UTC)
    outage: asyncio.Task[datetime] | None = None
    if hooks is not None and args.webhook_outage_s > 0:
        outage = asyncio.create_task(_outage(hooks, args.duration / 3, args.webhook_outage_s))
    max_hook_backlog = 0
    proc = await asyncio.create_subprocess_exec(
        *command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    last = t0
    max_backlog = 0
    while proc.returncode is None:
        try:
            await asyncio.wait_for(proc.wait(), timeout=2.0)
        except TimeoutError:
            async with service.pool.acquire() as conn:
                max_backlog = max(max_backlog, (await events_repo.pending(conn, cap=None))[0])
            max_hook_backlog = max(max_hook_backlog, service.webhooks.backlog)
            now = time.monotonic()
            if now - last >= 5:
                done = service.events_processed - started_events
                say(
                    f"{now - t0:5.0f}s: {done} events processed ({done / (now - t0):.0f}/s), "
                    f"backlog high-water mark {max_backlog}"
                )
                last = now
        if time.monotonic() - t0 > args.duration + 120:
            proc.kill()
            break
    out = (await proc.stdout.read()).decode() if proc.stdout else ""
    collector_done = time.monotonic()
    collector_seconds = collector_done - t0
    during = service.events_processed - started_events  # processed while it was inserting
    # drain what is left (bounded)
    async with service.pool.acquire() as conn:
        inserted = await metrics_repo.count(conn)
        for _ in range(600):
            # an existence test, not a count: a count of the backlog ten times a second
            # was a tenth of the database's time in a rate-0 run, spent measuring
            if not await events_repo.any_pending(conn):
                break
            await asyncio.sleep(0.1)
        elapsed = time.monotonic() - t0
        pending = (await events_repo.pending(conn, cap=None))[0]
        p50, p95, p99 = await predictions_repo.commit_latency_ms(conn)
        predictions = await predictions_repo.count(conn)
        alerts, explained = await predictions_repo.alert_counts(conn)
    processed = service.events_processed - started_events
    firsts = [w.stats.first_claim for w in service.workers if w.stats.first_claim is not None]
    window = max(w.stats.last_done for w in service.workers) - min(firsts) if firsts else 0.0
    collecting = collector_done - min(firsts) if firsts else 0.0
    say(
        f"collector inserted {inserted} rows in {collector_seconds:.1f}s; "
        f"{processed} events processed in {elapsed:.1f}s; {pending} left"
    )
    if out.strip():
        say("collector said: " + out.strip().splitlines()[-1])
    result: dict[str, Any] = {}
    if hooks is not None:
        result = await _webhook_figures(service, wall0, max_hook_backlog, outage)
    return result | {
        # first claim -> last commit: excludes the collector's start-up and the idle tail
        "events_per_s": round(processed / window, 1) if window > 0 else 0.0,
        # the same while the collector was inserting beside us (first claim -> its exit)
        "events_per_s_while_collecting": round(during / collecting, 1) if collecting > 0 else 0.0,
        "max_backlog_events": max_backlog,
        "latency_ms": {"p50": _r(p50), "p95": _r(p95), "p99": _r(p99)},
        "offered_rows_per_s": round(inserted / collector_seconds, 1),
        "rows_inserted": inserted,
        "events_processed": processed,
        "events_left": pending,
        "predictions": predictions,
        "alerts": alerts,
        "alert_share": round(alerts / predictions, 4) if predictions else None,
        "alerts_with_reasons": explained,
        "alert_reasons": args.alert_reasons,
        "batches": (batches := sum(w.stats.batches for w in service.workers)),
        "mean_batch_events": round(processed / max(batches, 1), 1),
        "workers": len(service.workers),
        "per_worker": [
            {"events": w.stats.events, "batches": w.stats.batches, "coins": len(w.cache)}
            for w in service.workers
        ],
        "models": args.models,
        "coins": args.coins,
        "duration_s": args.duration,
        "rate": args.rate,
        "stage_seconds": _stages(service),
        "runtimes": sorted(
            m.loaded.runtime_name for m in service.registry.active() if m.loaded is not None
        ),
    }


async def _webhook_figures(
    service: Service,
    since: datetime,
    max_backlog: int,
    outage: asyncio.Task[datetime] | None,
) -> dict[str, Any]:
    """Drain the outbox (bounded), then the delivery figures."""
    for _ in range(600):
        if service.webhooks.backlog == 0 and not service.webhooks.in_flight:
            break
        await asyncio.sleep(0.1)
    async with service.pool.acquire() as conn:
        summary = await webhooks_repo.delivery_summary(conn, since)
        closed = await webhooks_repo.outbox_stats(conn)
    first, last = summary["first_at"], summary["last_at"]
    span = (last - first).total_seconds() if first and last else 0.0
    p50, p95, p99 = summary["lag_ms"] or (None, None, None)
    figures: dict[str, Any] = {
        "webhook_deliveries": summary["delivered"],
        "webhook_deliveries_per_s": round(summary["delivered"] / span, 1) if span else 0.0,
        "webhook_lag_ms": {"p50": _r(p50), "p95": _r(p95), "p99": _r(p99)},
        "webhook_backlog_max": max(max_backlog, 0),
        "webhook_superseded": closed.get("superseded", 0),
        "webhook_expired": closed.get("expired", 0),
        "webhook_failed": closed.get("failed", 0),
        "webhook_retries": summary["retries"],
        "webhook_delivered_after_retry": summary["delivered_after_retry"],
        "webhook_top_retry_reason": summary["top_retry_reason"],
    }
    if outage is not None and outage.done():
        recovered_at = outage.result()
        async with service.pool.acquire() as conn:
            after = await webhooks_repo.delivery_summary(conn, recovered_at)
        if after["first_at"] is not None:
            # the first delivery of predictions written after the receiver came back
            figures["webhook_first_fresh_delivery_after_recovery_s"] = round(
                (after["first_at"] - recovered_at).total_seconds(), 2
            )
            figures["webhook_fresh_lag_ms_after_recovery"] = dict(
                zip(("p50", "p95", "p99"), map(_r, after["lag_ms"]), strict=True)
            )
    return figures


async def _drain(service: Service, count: int) -> dict[str, Any]:
    """Sender throughput alone: ``count`` deliveries queued at once (each with every active
    model's prediction, one coin each, so none supersedes another), timed until delivered.
    Bounded: gives up after 300 s."""
    url = service.settings.n8n_webhook_url
    assert url is not None
    models = [m.record for m in service.registry.active()]
    now = datetime.now(UTC)
    rows = []
    for i in range(count):
        preds = [OutgoingPrediction(m, 1, 0.9, True, m.alert_threshold, "alert") for m in models]
        coin = f"DRAIN{i:07d}"
        rows.append((coin, now, url, build_payload(coin, now, preds), f"drain-{i}"))
    async with service.pool.acquire() as conn:
        for start in range(0, count, 1000):
            await webhooks_repo.enqueue(conn, rows[start : start + 1000])
    size = len(encode(rows[0][3]))
    say(f"webhook drain: {count} deliveries of {size} bytes queued")
    cpu0, wall0 = time.process_time(), time.perf_counter()
    service.webhooks.wakeup.set()
    delivered = 0
    while time.perf_counter() - wall0 < 300:
        await asyncio.sleep(0.05)
        delivered = await webhooks_repo.delivered_count(service.pool, "drain-")
        if delivered >= count:
            break
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    say(f"webhook drain: {delivered} delivered in {wall:.1f}s")
    return {
        "deliveries": delivered,
        "payload_bytes": size,
        "seconds": round(wall, 2),
        "deliveries_per_s": round(delivered / wall, 1),
        "service_cpu_ms_per_delivery": round(1000 * cpu / max(delivered, 1), 3),
    }


def _stages(service: Service) -> dict[str, float]:
    """The pipeline's own stage timer (ml_pipeline_stage_seconds), summed over workers."""
    return {k: round(v, 2) for k, v in service.metrics.pipeline_breakdown().items()}


def _r(value: float | None) -> float | None:
    return round(float(value), 2) if value is not None else None


async def _naive(args: argparse.Namespace, service: Service, dsn: str) -> float:
    from ml_prediction_service.bench.naive import load_naive_models, run_naive

    models = service.registry.active()
    rows = [m.record for m in models]
    inputs = {m.id: list(m.loaded.input_columns) for m in models if m.loaded}
    naive_models = await asyncio.to_thread(load_naive_models, rows, inputs)
    conn = await connect(dsn)
    try:
        events = await metrics_repo.random_snapshots(conn, 2000)
        done, elapsed = await run_naive(
            conn,
            naive_models,
            events,
            history_size=service.settings.feature_history_size,
            seconds=args.naive_seconds,
        )
    finally:
        await conn.close()
    rate = done / elapsed if elapsed else 0.0
    say(f"naive path: {done} events in {elapsed:.1f}s ({rate:.1f}/s)")
    return round(rate, 2)


def main(args: argparse.Namespace) -> int:
    if args.models < 1 or args.coins < 1 or args.duration <= 0 or args.rate < 0:
        raise SystemExit("bench: --models, --coins, --duration must be positive, --rate >= 0")
    result = asyncio.run(run(args))
    print(json.dumps(result), flush=True)
    return 0
