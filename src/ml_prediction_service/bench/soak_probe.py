"""The soak run's service process and what is read from it: ``serve`` as its own subprocess
(so its RSS is the service's alone), its Prometheus counters, and one sample per window
(``bench/soak.py``)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import numpy as np
from prometheus_client.parser import text_string_to_metric_families

from ml_prediction_service.config import Settings
from ml_prediction_service.db import events_repo, soak_repo, system_repo


def say(message: str) -> None:
    print(f"[soak] {message}", flush=True)


def clean_environment() -> dict[str, str]:
    """This process's environment without any of the service's settings (a developer's
    DB_DSN or API_KEY must not reach the soak's service)."""
    names = {name.upper() for name in Settings.model_fields}
    return {k: v for k, v in os.environ.items() if k.upper() not in names}


def read_rss_bytes(pid: int) -> int | None:
    """Resident set size of process ``pid`` (Linux ``/proc/<pid>/status``; None elsewhere
    or once it has exited)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return None


class ServiceProcess:
    """``python -m ml_prediction_service serve`` on 127.0.0.1 with the given settings (as
    environment variables), its output in ``log_path``."""

    def __init__(self, env: dict[str, str], port: int, workdir: Path) -> None:
        self.env = clean_environment() | env
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.workdir = workdir  # its working directory: no .env is read there
        self.log_path = workdir / "service.log"
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def start(self, wait_seconds: float = 120.0) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self.proc = await asyncio.create_subprocess_exec(
                *(sys.executable, "-m", "ml_prediction_service", "serve"),
                *("--host", "127.0.0.1", "--port", str(self.port)),
                env=self.env,
                cwd=self.workdir,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
            )
        deadline = time.monotonic() + wait_seconds
        async with httpx.AsyncClient(base_url=self.url, timeout=2.0) as client:
            while time.monotonic() < deadline:  # bounded by the deadline
                if not self.alive():
                    raise RuntimeError(f"the service exited at start-up:\n{self.log_tail()}")
                try:
                    if (await client.get("/api/health")).status_code < 500:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.25)
        raise RuntimeError(
            f"the service did not answer within {wait_seconds:g}s:\n{self.log_tail()}"
        )

    async def stop(self, wait_seconds: float = 30.0) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.wait(), wait_seconds)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def parse_metrics(text: str) -> dict[str, dict[str, float]]:
    """Prometheus text → ``{sample name: {label text: value}}`` (label text ``"k=v,…"``,
    empty without labels)."""
    out: dict[str, dict[str, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            out.setdefault(sample.name, {})[labels] = float(sample.value)
    return out


def total(metrics: dict[str, dict[str, float]], name: str) -> float:
    return sum(metrics.get(name, {}).values())


def by_label(metrics: dict[str, dict[str, float]], name: str, label: str) -> dict[str, float]:
    """``{label value: value}`` of ``name``'s samples (``label``, e.g. ``table``)."""
    out: dict[str, float] = {}
    for labels, value in metrics.get(name, {}).items():
        for part in labels.split(","):
            key, _, text = part.partition("=")
            if key == label:
                out[text] = out.get(text, 0.0) + value
    return out


@dataclass
class Sample:
    """One window of the soak (``minute`` counts from 1)."""

    minute: int
    start: str  # ISO times of the window [start, end)
    end: str
    seconds: float
    rows_inserted: int
    events_processed: int
    events_per_s: float
    events_predicted: int  # events of the window with a prediction at sample time
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    webhook_deliveries: int
    webhook_lag_p50_ms: float | None
    webhook_lag_p99_ms: float | None
    backlog_events: int  # durable events not processed yet, when the sample is taken
    webhook_outbox_depth: int
    rss_bytes: int | None  # the service process's
    db_size_bytes: int
    tables: dict[str, int]  # bytes per table, partitions summed, indexes included
    partitions: dict[str, int]  # leaf partitions per partitioned table (DEFAULT included)
    partitions_dropped: dict[str, int]  # since the start (ml_partitions_dropped_total)
    errors: int  # ml_errors_total + ml_webhook_failures_total, this window
    errors_by_type: dict[str, int] = field(default_factory=dict)
    webhook_retries: int = 0
    coins_tracked: int = 0
    coin_cache_bytes: int = 0
    evaluations: int = 0  # outcomes stored by the live evaluator in this window
    load_average: float = 0.0  # the machine's 1-minute load average at the window's end
    # the health probe's predictions_last_hour query (it runs every
    # HEALTH_CHECK_INTERVAL_SECONDS with a 1.5 s deadline), timed once here
    health_query_ms: float = 0.0
    probe_ms: float = 0.0  # how long this sample's own queries took
    # seconds the workers spent per pipeline stage in this window (ml_pipeline_stage_seconds)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    # with --sql-profile N: the N statements that took most database time in this window
    sql_profile: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def window_statements(
    before: dict[int, dict[str, Any]], now: dict[int, dict[str, Any]], limit: int
) -> list[dict[str, Any]]:
    """The ``limit`` statements that took most database time between two readings of
    pg_stat_statements (queryid -> query, calls, total_ms, rows), costliest first."""
    window = []
    for qid, r in now.items():
        then = before.get(qid, {"calls": 0, "total_ms": 0.0, "rows": 0})
        calls = r["calls"] - then["calls"]
        spent = r["total_ms"] - then["total_ms"]
        if calls > 0:
            window.append((spent, calls, r["rows"] - then["rows"], r["query"]))
    window.sort(key=lambda w: w[0], reverse=True)
    return [
        {
            "query": q[:160],
            "calls": calls,
            "total_ms": round(spent),
            "ms_per_call": round(spent / calls, 3),
            "rows": rows,
        }
        for spent, calls, rows, q in window[:limit]
    ]


class Sampler:
    """Reads one window's figures: counters at the window's end (scrape), the window's
    latencies and deliveries a moment later (``settle``: the events of its last instant
    have been predicted by then, unless there is a backlog — which the sample shows)."""

    def __init__(
        self,
        service: ServiceProcess,
        conn: asyncpg.Connection,
        active_model_id: int,
        delivery_max_age: timedelta,
        sql_profile: int = 0,
    ) -> None:
        self.service = service
        self.sql_profile = sql_profile
        self.statements: dict[int, dict[str, Any]] = {}
        self.conn = conn
        self.active_model_id = active_model_id
        self.delivery_max_age = delivery_max_age
        self.client = httpx.AsyncClient(base_url=service.url, timeout=10.0)
        self.previous: dict[str, dict[str, float]] = {}
        self.latencies: list[list[float]] = []  # per window, for pooled percentiles

    async def close(self) -> None:
        await self.client.aclose()

    async def scrape(self) -> dict[str, dict[str, float]]:
        resp = await self.client.get("/metrics")
        resp.raise_for_status()
        return parse_metrics(resp.text)

    async def baseline(self) -> None:
        self.previous = await self.scrape()
        if self.sql_profile:
            await system_repo.reset_statement_stats(self.conn)

    async def _window_statements(self) -> list[dict[str, Any]]:
        """The statements that took most database time since the last sample."""
        now = {r["queryid"]: r for r in await system_repo.statement_totals(self.conn)}
        before, self.statements = self.statements, now
        return window_statements(before, now, self.sql_profile)

    async def take(
        self, minute: int, since: datetime, until: datetime, counters: dict[str, dict[str, float]]
    ) -> Sample:
        """The sample of window ``[since, until)``; ``counters``: scraped at ``until``."""
        rss = read_rss_bytes(self.service.pid)
        before, self.previous = self.previous, counters
        seconds = (until - since).total_seconds()

        def delta(name: str) -> float:
            return total(counters, name) - total(before, name)

        errors_now = by_label(counters, "ml_errors_total", "type")
        errors_then = by_label(before, "ml_errors_total", "type")
        errors_by_type = {
            k: int(v - errors_then.get(k, 0.0))
            for k, v in errors_now.items()
            if v - errors_then.get(k, 0.0) > 0
        }
        stages_now = by_label(counters, "ml_pipeline_stage_seconds_sum", "stage")
        stages_then = by_label(before, "ml_pipeline_stage_seconds_sum", "stage")
        stages = {k: round(v - stages_then.get(k, 0.0), 2) for k, v in stages_now.items()}
        failures = int(delta("ml_webhook_failures_total"))
        if failures:
            errors_by_type["webhook_failed"] = failures
        conn = self.conn
        began = time.perf_counter()
        latencies = await soak_repo.window_latencies_ms(conn, self.active_model_id, since, until)
        self.latencies.append(latencies)
        delivered, lag50, lag99 = await soak_repo.window_webhook_lag(
            conn, since, until, since - self.delivery_max_age
        )
        sizes = await soak_repo.table_sizes(conn)
        rows = await soak_repo.window_rows(conn, since, until)
        db_size = await soak_repo.database_size(conn)
        backlog = (await events_repo.pending(conn, cap=None))[0]
        probe_ms = (time.perf_counter() - began) * 1000
        began = time.perf_counter()
        await system_repo.predictions_last_hour(conn)
        health_ms = (time.perf_counter() - began) * 1000
        statements = await self._window_statements() if self.sql_profile else []
        p50 = p99 = None
        if latencies:
            p50, p99 = (float(v) for v in np.percentile(latencies, [50, 99]))
        processed = int(delta("ml_events_processed_total"))
        return Sample(
            minute=minute,
            start=since.isoformat(),
            end=until.isoformat(),
            seconds=round(seconds, 3),
            rows_inserted=rows,
            events_processed=processed,
            events_per_s=round(processed / seconds, 1) if seconds > 0 else 0.0,
            events_predicted=len(latencies),
            latency_p50_ms=_r(p50),
            latency_p99_ms=_r(p99),
            webhook_deliveries=delivered,
            webhook_lag_p50_ms=_r(lag50),
            webhook_lag_p99_ms=_r(lag99),
            backlog_events=backlog,
            webhook_outbox_depth=int(total(counters, "ml_webhook_outbox_depth")),
            rss_bytes=rss,
            db_size_bytes=db_size,
            tables={t.name: t.bytes for t in sizes},
            partitions={t.name: t.partitions for t in sizes if t.partitions},
            partitions_dropped={
                k: int(v)
                for k, v in by_label(counters, "ml_partitions_dropped_total", "table").items()
            },
            errors=sum(errors_by_type.values()),
            errors_by_type=errors_by_type,
            webhook_retries=int(delta("ml_webhook_retries_total")),
            coins_tracked=int(total(counters, "ml_coins_tracked")),
            coin_cache_bytes=int(total(counters, "ml_coin_cache_bytes")),
            evaluations=int(delta("ml_evaluations_total")),
            load_average=round(os.getloadavg()[0], 2),
            health_query_ms=round(health_ms, 1),
            probe_ms=round(probe_ms, 1),
            stage_seconds=stages,
            sql_profile=statements,
        )


def _r(value: float | None) -> float | None:
    return round(float(value), 2) if value is not None else None
