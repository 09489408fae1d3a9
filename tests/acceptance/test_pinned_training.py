"""``train-demo --pinned`` (the real CLI) trains like the real training service: under its
pinned versions, with its own pandas feature code. The service imports such a model, serves it
on ONNX Runtime, and predicts what the original library predicts for the same feature row."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.metrics import coin_rows, insert_metrics
from tests.support.pinned import original_proba
from tests.support.processes import service_env
from tests.support.world import World


@pytest.mark.slow
@pytest.mark.parametrize(
    ("model_type", "library", "version"),
    [("random_forest", "scikit-learn", "1.3.2"), ("xgboost", "xgboost", "2.0.2")],
)
async def test_pinned_demo_model_is_served_as_the_original_library_predicts(
    world: World,
    pinned_python: Path,
    tmp_path: Path,
    model_type: str,
    library: str,
    version: str,
) -> None:
    name = f"pinned-{model_type}"
    command = [
        *(sys.executable, "-m", "ml_prediction_service", "train-demo", "--pinned"),
        *("--model-type", model_type, "--target", "time", "--name", name),
        *("--coins", "30", "--models-dir", str(tmp_path / "training-models")),
    ]
    done = await asyncio.to_thread(
        subprocess.run,
        command,
        env=service_env(world.db_dsn, tmp_path / "data", world.training_url),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "made by scikit-learn 1.3.2, xgboost 2.0.2, pandas 2.1.3" in done.stdout
    row = await world.pool.fetchrow(
        "SELECT id, model_file_path FROM ml_models WHERE name = $1", name
    )
    assert row is not None

    resp = await world.api.post("/api/models/import", json={"model_id": row["id"]})
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert (body["model_library"], body["model_library_version"]) == (library, version)
    assert body["runtime"]["runtime"] == "onnxruntime", body["runtime"]

    coins = [f"PINNED{i}" for i in range(4)]
    await insert_metrics(
        world.pool, [r for i, c in enumerate(coins) for r in coin_rows(c, 30, seed=i)]
    )
    served, rows = [], []
    for coin in coins:
        resp = await world.api.post(
            "/api/predict", json={"coin_id": coin, "model_ids": [body["id"]]}
        )
        assert resp.status_code == 200, resp.text
        [result] = resp.json()["predictions"]
        assert result["status"] == "ok", result
        served.append(result["probability"])
        rows.append([result["features"][f] for f in body["features"] if f in result["features"]])
    original = await asyncio.to_thread(
        original_proba, pinned_python, Path(row["model_file_path"]), rows
    )
    assert original["libraries"][library] == version  # type: ignore[index]
    for got, want in zip(served, original["proba"], strict=True):  # type: ignore[call-overload]
        assert abs(got - want[1]) <= 1e-6
