"""`ml-prediction-service bench` end to end, tiny: its own database, trained models, the
collector process, the real service, the naive path — and one JSON object as the last line.
Checks the shape and that the figures are consistent, never how fast this machine is."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def test_bench_prints_one_json_object_with_the_agreed_keys(tmp_path: Path, scratch: Path) -> None:
    # the bench's temp dir goes to scratch: it must be gone afterwards
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "API_"))}
    env["TMPDIR"] = str(scratch)
    command = [
        sys.executable,
        "-m",
        "ml_prediction_service",
        "bench",
        "--models",
        "2",
        "--coins",
        "40",
        "--duration",
        "4",
        "--rate",
        "200",
        "--naive-seconds",
        "1",
        "--sql-profile",
        "5",
    ]
    done = subprocess.run(
        command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    last = done.stdout.strip().splitlines()[-1]
    result = json.loads(last)
    for key in ("events_per_s", "latency_ms", "peak_rss_mb", "naive_events_per_s", "speedup"):
        assert key in result, key
    assert set(result["latency_ms"]) == {"p50", "p95", "p99"}
    assert result["events_processed"] == result["rows_inserted"] > 0
    assert result["events_left"] == 0
    assert result["models"] == 2 and sorted(result["runtimes"]) == ["onnxruntime"] * 2
    assert result["predictions"] > 0
    memory = result["memory"]
    assert 0 < memory["coins_cached"] <= 40 and memory["cache_capacity"] == 50_000
    assert memory["rss_before_collector_mb"] > 0 and memory["cache_array_bytes_per_slot"] > 0
    lat = result["latency_ms"]
    assert 0 < lat["p50"] <= lat["p95"] <= lat["p99"]
    assert result["events_per_s"] > 0 and result["naive_events_per_s"] > 0
    assert result["speedup"] == round(result["events_per_s"] / result["naive_events_per_s"], 1)
    assert result["peak_rss_mb"] > 0
    cpu = result["cpu_ms_per_event"]  # this process and its PostgreSQL server, from /proc
    assert cpu["service"] > 0 and cpu["postgres"] > 0
    assert abs(cpu["total"] - cpu["service"] - cpu["postgres"]) < 0.002
    # the first two bench models are rule-based (nowcasts): nothing for the evaluator to do
    assert result["evaluations"] == {"stored": 0, "batches": 0, "per_event": 0.0}
    profile = result["sql_profile"]  # pg_stat_statements, most database time first
    assert 0 < len(profile) <= 5
    assert [p["total_ms"] for p in profile] == sorted(
        (p["total_ms"] for p in profile), reverse=True
    )
    assert any("INSERT INTO predictions" in p["query"] for p in profile), profile
    assert all(p["calls"] > 0 and len(p["query"]) <= 160 for p in profile)
    assert "[bench]" in done.stdout  # progress lines come first
    assert list(scratch.glob("mps-bench-*")) == []  # database and trained models removed


def test_many_coins_tracks_every_coin_and_reports_its_memory(tmp_path: Path, scratch: Path) -> None:
    """`bench.many_coins`, tiny: every SQL-written row is an event the pipeline works off,
    every coin ends up in the history stores, and the JSON says what RSS did."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "API_"))}
    env["TMPDIR"] = str(scratch)
    command = [sys.executable, "-m", "ml_prediction_service.bench.many_coins"]
    command += ["--coins", "900", "--rows", "2", "--models", "2", "--block", "400"]
    # two workers, each half the capacity: room for any split of the 900 coins
    command += ["--coin-cache-size", "2000", "--max-seconds", "240"]
    done = subprocess.run(
        command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=400, check=False
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["rows_inserted"] == 1800 == result["events_processed"]
    assert result["coins_cached"] == 900 and result["cache_capacity"] == 2000
    assert 0 < result["rss_before_mb"] <= result["peak_rss_mb"]
    assert result["rss_after_mb"] > 0  # VmRSS (it counts a little more than the peak's figure)
    assert result["cache_array_bytes_per_slot"] > 0
    assert list(scratch.glob("mps-many-*")) == []  # its database is removed
