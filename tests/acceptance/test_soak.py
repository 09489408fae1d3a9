"""`ml-prediction-service soak`, short: two 20-second windows at a small rate with 10-second
partitions and a 30-second retention. Checks the summary line's keys, the JSON series, the
self-contained HTML report, and that retention dropped partitions while it ran — never how
fast this machine is."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

SUMMARY_KEYS = {
    "first_5min_p99_ms",
    "last_5min_p99_ms",
    "p99_ratio",
    "full_load_from_minute",
    "full_load_p99_ratio",
    "rss_growth_mb_per_hour",
    "rss_fit_minutes",
    "db_size_end_bytes",
    "errors",
    "partitions_dropped",
    "rate",
    "minutes",
    "models",
    "json",
    "html",
}
SAMPLE_KEYS = {
    "events_per_s",
    "latency_p50_ms",
    "latency_p99_ms",
    "webhook_lag_p99_ms",
    "rss_bytes",
    "db_size_bytes",
    "tables",
    "errors",
    "partitions_dropped",
    "evaluations",
}


def test_soak_samples_every_window_and_retention_drops_partitions(
    tmp_path: Path,
    scratch: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "API_"))}
    env["TMPDIR"] = str(scratch)
    report = tmp_path / "report"
    command = [
        *(sys.executable, "-m", "ml_prediction_service", "soak"),
        *("--minutes", "2", "--sample-seconds", "20", "--rate", "100", "--models", "2"),
        *("--partition-interval", "10 seconds", "--retention-seconds", "30"),
        *("--keeper-interval", "2", "--report-dir", str(report), "--sql-profile", "3"),
    ]
    done = subprocess.run(
        command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(summary) >= SUMMARY_KEYS, SUMMARY_KEYS - set(summary)
    assert summary["minutes"] == 2 and summary["models"] == 2 and summary["rate"] == 100
    assert summary["model_kinds"] == {"random_forest": 1, "xgboost": 1}
    assert summary["webhook_send_modes"] == {"all": 1, "alerts_only": 1}
    assert summary["first_5min_p99_ms"] > 0 and summary["last_5min_p99_ms"] > 0
    assert summary["db_size_end_bytes"] > 0
    assert isinstance(summary["errors"], int) and summary["errors"] >= 0
    # retention worked: partitions of every table were dropped during the run
    dropped = summary["partitions_dropped"]
    for table in ("predictions", "prediction_webhook_outbox", "prediction_webhook_log"):
        assert dropped.get(table, 0) >= 1, dropped

    series = json.loads((report / "soak.json").read_text())
    assert series["summary"] == summary
    samples = series["samples"]
    assert [s["minute"] for s in samples] == [1, 2]
    for sample in samples:
        assert set(sample) >= SAMPLE_KEYS, SAMPLE_KEYS - set(sample)
        assert sample["events_processed"] > 0 and sample["rows_inserted"] > 0
        assert sample["rss_bytes"] > 0  # the service process's own RSS
        assert sample["webhook_deliveries"] > 0  # the webhook path was on
        # every parent table counted once, its partitions summed into it
        assert "predictions" in sample["tables"]
        assert not any(name.startswith("predictions_p") for name in sample["tables"])
        # --sql-profile 3: this window's three costliest statements, costliest first
        profile = sample["sql_profile"]
        assert len(profile) == 3, profile
        assert all(p["calls"] > 0 and p["query"] for p in profile)
        spent = [p["total_ms"] for p in profile]
        assert spent == sorted(spent, reverse=True)
    # partitions dropped is cumulative and rose between the two samples (10-second
    # partitions: one passes its retention every 10 s)
    counts = [sum(s["partitions_dropped"].values()) for s in samples]
    assert counts[-1] > counts[0]

    page = (report / "soak.html").read_text()
    assert page.count("<svg") >= 6
    assert "<script" not in page and "http://" not in page.replace(
        'xmlns="http://www.w3.org/2000/svg"', ""
    )  # opens without network
    assert list(scratch.glob("mps-soak-*")) == []  # database and trained models removed


def test_sigterm_stops_the_soak_and_removes_its_database(tmp_path: Path, scratch: Path) -> None:
    """Stopped from outside (SIGTERM, as `timeout` or a CI runner does) while it samples:
    the service, the collector and the embedded server stop, the scratch folder goes."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "API_"))}
    env["TMPDIR"] = str(scratch)
    report = tmp_path / "report"
    command = [
        *(sys.executable, "-m", "ml_prediction_service", "soak"),
        *("--minutes", "30", "--sample-seconds", "20", "--rate", "50", "--models", "2"),
        *("--report-dir", str(report)),
    ]
    proc = subprocess.Popen(
        command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 300
        # running once the collector writes its log (database, service and models are up)
        while not (report / "collector.log").exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the soak did not start in 300 s"
            time.sleep(0.5)
        assert list(scratch.glob("mps-soak-*")), "its database folder exists while it runs"
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode != 0  # interrupted, not a finished soak
    assert list(scratch.glob("mps-soak-*")) == [], err[-3000:]
    servers = subprocess.run(["pgrep", "-f", str(scratch)], capture_output=True, text=True)
    assert servers.stdout.strip() == "", servers.stdout
