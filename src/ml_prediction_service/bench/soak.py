"""``ml-prediction-service soak``: the service for N windows ("minutes") under the collector
stand-in at a fixed rate, with webhooks to a local receiver and partitions small enough that
retention drops some during the run. Every window is sampled (``bench/soak_probe.py``);
the series goes to ``soak.json``, the charts to ``soak.html`` (``bench/soak_report.py``);
the last stdout line is the summary as one JSON object (docs/retention.md, "Soak").

Processes: an embedded PostgreSQL, the service (``serve``, its own process: its RSS is the
service's alone), the collector stand-in (``simulate --stamp insert``: data timestamps are
insert times, so partitions by data_timestamp roll over with the wall clock), the webhook
receiver; the training-service stand-in and the sampler run in this process. Every wait
is bounded; everything is stopped and the database removed at the end."""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from ml_prediction_service.bench.runner import (
    WebhookReceiver,
    free_port,
    scratch_database,
    train_models,
)
from ml_prediction_service.bench.soak_probe import Sample, Sampler, ServiceProcess, say
from ml_prediction_service.bench.soak_report import default_warmup, html_report, summarize
from ml_prediction_service.config import Settings, SettingsError, load_settings
from ml_prediction_service.db import metrics_repo
from ml_prediction_service.db.pool import connect
from ml_prediction_service.db.schema import install_coin_metrics_trigger, migrate
from ml_prediction_service.demo.api_setup import import_and_activate
from ml_prediction_service.httpserve import serving
from ml_prediction_service.stand_ins.ddl import create_dev_schema
from ml_prediction_service.stand_ins.training_service import create_app as training_app

ROWS_PER_COIN = 200  # the simulated coins' mean is ~270 rows: --coins 0 plans enough


def settle_seconds(sample_seconds: float) -> float:
    """How long after a window's end its latencies are read (its last events predicted)."""
    return min(5.0, sample_seconds / 4)


def service_settings(args: argparse.Namespace) -> dict[str, str]:
    """The soak's service settings as environment variables (validated here first)."""
    days = f"{args.retention_seconds / 86400:.10f}"
    env = {
        "BATCH_SIZE": str(args.batch_size),
        "BATCH_TIMEOUT_SECONDS": "0.5",
        "PIPELINE_WORKERS": str(args.workers),
        "LOG_LEVEL": "WARNING",
        "WEBHOOK_CONCURRENCY": str(args.webhook_concurrency),
        "WEBHOOK_HEALTH_MAX_PENDING_SECONDS": "3600",
        "PARTITION_INTERVAL": args.partition_interval,
        "PARTITIONS_AHEAD": "3",
        "PARTITION_KEEPER_INTERVAL_SECONDS": str(args.keeper_interval),
        "PREDICTIONS_RETENTION_DAYS": days,
        "OUTBOX_RETENTION_DAYS": days,
        "WEBHOOK_LOG_RETENTION_DAYS": days,
        "EVALUATIONS_RETENTION_DAYS": days,
    }
    for item in args.service_env:
        name, _, value = item.partition("=")
        env[name.strip().upper()] = value
    return env


def check(args: argparse.Namespace) -> Settings:
    """Refuse arguments that cannot make a soak (a message for people); the service's
    settings as the service will read them."""
    if args.models < 1 or args.minutes < 1 or args.sample_seconds < 5 or args.rate <= 0:
        raise SystemExit(
            "soak: --models and --minutes must be >= 1, --sample-seconds >= 5, --rate > 0"
        )
    if any("=" not in item for item in args.service_env):
        raise SystemExit("soak: --service-env takes NAME=VALUE (a setting of the service)")
    if not 0 <= args.webhook_all_models <= args.models:
        raise SystemExit("soak: --webhook-all-models must be between 0 and --models")
    # a window's rows must still be there when it is sampled
    least = args.sample_seconds + settle_seconds(args.sample_seconds)
    if args.retention_seconds <= least:
        raise SystemExit(
            f"soak: --retention-seconds must exceed --sample-seconds plus "
            f"{least - args.sample_seconds:g} s (> {least:g}): a window's predictions are read "
            "after it ends"
        )
    try:
        settings = load_settings(
            _env_file=None, **{k.lower(): v for k, v in service_settings(args).items()}
        )
    except SettingsError as exc:
        raise SystemExit(f"soak: {exc}") from None
    return settings


def _collector_command(args: argparse.Namespace, seconds: float) -> list[str]:
    coins = args.coins or max(50, math.ceil(args.rate * seconds / ROWS_PER_COIN))
    return [
        *(sys.executable, "-m", "ml_prediction_service", "simulate"),
        *("--coins", str(coins), "--duration", f"{seconds:g}", "--rate", f"{args.rate:g}"),
        *("--seed", "11", "--batch-size", str(args.insert_batch)),
        *("--launch-span", f"{args.launch_span:g}", "--progress-interval", "60"),
        *("--stamp", "insert", "--async-commit"),
    ]


async def _import_models(url: str, model_ids: list[int], all_models: int) -> int:
    """Import and activate every model through the API (send mode alerts_only), the first
    ``all_models`` of them sending ``all``; the active id of the first model."""
    wanted = {f"soak-{model_id}": model_id for model_id in model_ids}
    async with httpx.AsyncClient(base_url=url, timeout=120.0) as api:
        models = await import_and_activate(api, wanted, say)
        for model in models[:all_models]:
            resp = await api.patch(
                f"/api/models/{model['id']}/webhook", json={"send_mode": ["all"]}
            )
            resp.raise_for_status()
    return int(models[0]["id"])


async def _first_row(conn: asyncpg.Connection, proc: asyncio.subprocess.Process) -> None:
    for _ in range(600):  # bounded: 60 s
        if await metrics_repo.count(conn) > 0:
            return
        if proc.returncode is not None:
            break
        await asyncio.sleep(0.1)
    raise RuntimeError("the collector stand-in inserted nothing within 60 s")


def _write(folder: Path, samples: list[Sample], summary: dict[str, Any] | None) -> None:
    series = {"summary": summary, "samples": [s.as_json() for s in samples]}
    (folder / "soak.json").write_text(json.dumps(series, indent=1))


async def _soak(
    args: argparse.Namespace,
    service: ServiceProcess,
    conn: asyncpg.Connection,
    active_model_id: int,
    settings: Settings,
    folder: Path,
) -> tuple[list[Sample], list[list[float]]]:
    window = timedelta(seconds=args.sample_seconds)
    settle = settle_seconds(args.sample_seconds)
    seconds = args.minutes * args.sample_seconds + settle + 2
    command = _collector_command(args, seconds)
    say(f"collector: {' '.join(command[3:])}")
    sampler = Sampler(
        service,
        conn,
        active_model_id,
        timedelta(seconds=settings.webhook_max_age_seconds),
        args.sql_profile,
    )
    collector_log = (folder / "collector.log").open("wb")
    proc = await asyncio.create_subprocess_exec(
        *command,
        env=service.env,  # DB_DSN, LOG_LEVEL=WARNING
        stdout=collector_log,
        stderr=subprocess.STDOUT,
    )
    samples: list[Sample] = []
    try:
        await _first_row(conn, proc)
        start = datetime.now(UTC)
        await sampler.baseline()
        for i in range(args.minutes):  # bounded: one turn per window
            since, until = start + window * i, start + window * (i + 1)
            await asyncio.sleep(max(0.0, (until - datetime.now(UTC)).total_seconds()))
            counters = await sampler.scrape()
            await asyncio.sleep(settle)
            if not service.alive():
                raise RuntimeError(f"the service exited during the soak:\n{service.log_tail()}")
            sample = await sampler.take(i + 1, since, until, counters)
            samples.append(sample)
            _write(folder, samples, None)
            if proc.returncode is not None and i + 1 < args.minutes:
                say(
                    "the collector stand-in ended early (its simulation ran out): see collector.log"
                )
            say(_line(sample, args.minutes))
    finally:
        if proc.returncode is None:
            try:
                await asyncio.wait_for(proc.wait(), timeout=30)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        collector_log.close()
        await sampler.close()
    return samples, sampler.latencies


def _line(s: Sample, minutes: int) -> str:
    rss = f"{s.rss_bytes / 2**20:.0f} MB" if s.rss_bytes is not None else "?"
    return (
        f"minute {s.minute}/{minutes}: {s.events_per_s:.0f} events/s "
        f"({s.rows_inserted} inserted), p50 {s.latency_p50_ms} ms p99 {s.latency_p99_ms} ms, "
        f"webhook p99 {s.webhook_lag_p99_ms} ms ({s.webhook_deliveries}), RSS {rss}, "
        f"DB {s.db_size_bytes / 2**20:.0f} MB, pending {s.backlog_events}, "
        f"dropped {sum(s.partitions_dropped.values())}, errors {s.errors}, load {s.load_average}, "
        f"health query {s.health_query_ms:.0f} ms"
    )


async def run(args: argparse.Namespace, settings: Settings, folder: Path) -> dict[str, Any]:
    async with scratch_database("mps-soak-", statement_stats=args.sql_profile > 0) as (
        workdir,
        dsn,
    ):
        conn = await connect(dsn)
        try:
            await migrate(
                conn,
                partition_interval=settings.partition_interval,
                partitions_ahead=settings.partitions_ahead,
            )
            await create_dev_schema(conn)
            await install_coin_metrics_trigger(conn)
            model_ids = await train_models(conn, workdir / "trained", args.models)
            total = args.minutes * args.sample_seconds
            async with serving("training-service stand-in", training_app(dsn)) as training:
                hooks = WebhookReceiver(args.webhook_delay_ms, 0, total + 900)
                env = service_settings(args) | {
                    "DB_DSN": dsn,
                    "DATA_DIR": str(workdir / "service"),
                    "TRAINING_SERVICE_API_URL": f"{training.url}/api",
                    "N8N_WEBHOOK_URL": hooks.url,
                }
                service = ServiceProcess(env, free_port(), workdir / "service")
                try:
                    await hooks.start()
                    await service.start()
                    say(f"service pid {service.pid} at {service.url}")
                    active = await _import_models(service.url, model_ids, args.webhook_all_models)
                    samples, latencies = await _soak(args, service, conn, active, settings, folder)
                finally:
                    await service.stop()
                    await hooks.stop()
                    log = service.log_path
                    if log.exists():
                        (folder / "service.log").write_bytes(log.read_bytes()[-200_000:])
        finally:
            await conn.close()
    warmup = (
        args.warmup_minutes if args.warmup_minutes is not None else default_warmup(args.minutes)
    )
    kinds = ["random_forest" if i % 2 == 0 else "xgboost" for i in range(args.models)]
    context = {
        "rate": args.rate,
        "minutes": args.minutes,
        "sample_seconds": args.sample_seconds,
        "models": args.models,
        "model_kinds": {k: kinds.count(k) for k in sorted(set(kinds))},
        "webhook_send_modes": {
            "all": args.webhook_all_models,
            "alerts_only": args.models - args.webhook_all_models,
        },
        "partition_interval_seconds": settings.partition_interval.total_seconds(),
        "retention_seconds": args.retention_seconds,
        "keeper_interval_seconds": args.keeper_interval,
        "service_env": list(args.service_env),
        "warmup_minutes": warmup,
        "cpu_count": os.cpu_count(),
        "json": str(folder / "soak.json"),
        "html": str(folder / "soak.html"),
    }
    summary = summarize(samples, latencies, warmup, context)
    _write(folder, samples, summary)
    (folder / "soak.html").write_text(html_report(samples, summary))
    return summary


def main(args: argparse.Namespace) -> int:
    settings = check(args)
    folder = Path(args.report_dir).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    summary = asyncio.run(run(args, settings, folder))
    say(f"done in {time.monotonic() - started:.0f}s; report {summary['html']}")
    print(json.dumps(summary), flush=True)
    return 0
