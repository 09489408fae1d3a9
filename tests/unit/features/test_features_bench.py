"""The micro-benchmark runs and ends with one JSON line (timings are not asserted)."""

from __future__ import annotations

import json

import pytest

from ml_prediction_service.features.bench import main


def test_bench_prints_a_json_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--batch-sizes", "1", "7", "--repeats", "3", "--no-pin"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(lines[-1])
    assert summary["n_features"] == 60
    assert set(summary["us_per_coin"]) == {"1", "7"}
    assert summary["meets_target"] is None  # batch 500 was not measured
