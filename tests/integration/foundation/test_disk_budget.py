"""The disk budget (docs/disk-budget.md): measured on rows in partitions, printed by the
``disk-budget`` command with the keys the docs name, projections that follow from them."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from ml_prediction_service.bench.disk_budget import (
    RowsPerEvent,
    measure,
    project,
    retention_days,
)
from ml_prediction_service.bench.list_plans import load_data
from ml_prediction_service.cli.main import build_parser
from ml_prediction_service.db.pool import connect
from ml_prediction_service.stand_ins.ddl import create_dev_schema
from tests.support.settings import service_settings

STORED = (
    "predictions",
    "prediction_webhook_outbox",
    "prediction_webhook_log",
    "prediction_evaluations",
    "coin_metrics",
)
ROW_KEYS = {
    "rows",
    "measured_as",
    "bytes_per_row",
    "heap_bytes_per_row",
    "toast_bytes_per_row",
    "index_bytes_per_row",
    "total_bytes",
    "empty_partitions_bytes",
    "indexes",
}


async def _fill(dsn: str) -> None:
    conn = await connect(dsn)
    try:
        await create_dev_schema(conn)
        await load_data(conn, models=4, events=2000, coins=200, days=2)
    finally:
        await conn.close()


def test_disk_budget_command_prints_measured_bytes_and_projection(
    db_dsn: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(_fill(db_dsn))
    args = build_parser().parse_args(["disk-budget", "--rates", "100,500", "--models", "4"])
    assert args.handler(service_settings(tmp_path, db_dsn=db_dsn), args) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"tables", "rows_per_event", "projection"}
    tables = out["tables"]
    for table in STORED:
        t = tables[table]
        assert set(t) == ROW_KEYS, table
        assert t["measured_as"] == "stored rows"
        assert t["rows"] > 0 and t["bytes_per_row"] > 0, table
        parts = t["heap_bytes_per_row"] + t["toast_bytes_per_row"] + t["index_bytes_per_row"]
        assert parts == pytest.approx(t["bytes_per_row"], abs=0.2), table
    assert tables["predictions"]["rows"] == 2000 * 4
    assert "idx_predictions_model_ts" in tables["predictions"]["indexes"]
    # the event queue is empty here and the live command fills no scratch table
    assert tables["prediction_events"]["rows"] == 0
    assert tables["prediction_events"]["bytes_per_row"] is None
    assert out["rows_per_event"]["predictions"] == 4
    assert [p["events_per_s"] for p in out["projection"]] == [100, 500]
    at_500 = out["projection"][1]["tables"]["predictions"]
    assert at_500["rows_per_day"] == 500 * 86_400 * 4
    bpr = tables["predictions"]["bytes_per_row"]
    assert at_500["gb_per_day"] == pytest.approx(500 * 86_400 * 4 * bpr / 1e9, abs=0.01)


async def test_scratch_copies_measure_the_queues_and_evaluations(db_dsn: str) -> None:
    await _fill(db_dsn)
    conn = await connect(db_dsn)
    try:
        await conn.execute("DELETE FROM prediction_evaluations")
        budget = await measure(conn, synthesize=True)
        leftovers = await conn.fetchval(
            "SELECT count(*) FROM pg_class WHERE relname LIKE 'budget_scratch_%'"
        )
    finally:
        await conn.close()
    assert leftovers == 0
    for table, rows in (
        ("prediction_events", 2000),  # one per coin_metrics row
        ("prediction_evaluations", 2000 * 2),  # predictions of the 2 models with a horizon
        ("prediction_evaluation_due", 2000),  # one per (coin, timestamp, horizon)
    ):
        assert budget[table]["measured_as"].startswith("scratch copy"), table
        assert budget[table]["rows"] == rows, table
        assert budget[table]["bytes_per_row"] > 0


def test_projection_and_retention_formula() -> None:
    budget = {"predictions": {"bytes_per_row": 200.0}, "coin_metrics": {"bytes_per_row": 300.0}}
    (row,) = project(budget, [100.0], RowsPerEvent(predictions=10, evaluations=0, outbox=0, log=0))
    assert row["tables"]["predictions"] == {"rows_per_day": 86_400_000, "gb_per_day": 17.28}
    assert row["service_gb_per_day"] == 17.28  # coin_metrics is the collector's, not ours
    # 100 GB, 20 % headroom: 80 = 2 × (3 + 1) + 9 × (N + 1)  →  N = 7
    days = retention_days(100, {"outbox": 2.0, "predictions": 9.0}, {"outbox": 3})
    assert days == pytest.approx(7.0)
