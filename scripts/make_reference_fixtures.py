"""Make the reference model fixtures: models trained under the training service's libraries.

Run with the project's normal interpreter, from the repository root::

    python scripts/make_reference_fixtures.py            # every generation
    python scripts/make_reference_fixtures.py --only sklearn-1.3.2_xgboost-2.0.2
    python scripts/make_reference_fixtures.py --check    # regenerate in a temp dir, compare

For each *generation* (a set of pinned training-side libraries) it

1. builds or reuses a throw-away virtualenv with those libraries
   (``ml_prediction_service.stand_ins.training_env``; the first build takes about 45 s and 800 MB,
   reusing one takes well under a second);
2. simulates deterministic coin histories with the project's simulator (values already
   rounded to the NUMERIC scales of ``coin_metrics``), labels them with
   ``stand_ins.labels.time_labels`` and adds a few short *probe coins* (fixed dates in January 2026,
   some NULLs, one non-history row, one zero market cap);
3. runs ``stand_ins/training_side.py fixtures`` under that env's interpreter, which computes the
   training service's features with *its* pandas, trains four small models with *its*
   scikit-learn/xgboost, dumps them with *its* joblib and writes ``reference.json`` with
   probe rows and the original ``predict_proba`` output.

Output: ``tests/fixtures/reference_models/<generation>/`` with ``rf_base.joblib``,
``xgb_base.joblib``, ``rf_engineered.joblib``, ``xgb_engineered.joblib`` and
``reference.json``. Everything is deterministic (fixed seeds, no clock): running it again
gives the same files. See ``docs/reference-fixtures.md``.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ml_prediction_service.stand_ins.labels import TimeTarget, time_labels
from ml_prediction_service.stand_ins.simulator import (
    BOOL_COLUMNS,
    INT_COLUMNS,
    METRIC_COLUMNS,
    SimConfig,
    plan_coins,
)
from ml_prediction_service.stand_ins.stream import simulate_frame
from ml_prediction_service.stand_ins.training_env import PINNED, ensure_env

ROOT = Path(__file__).resolve().parents[1]
TRAINING_SIDE = ROOT / "src" / "ml_prediction_service" / "sim" / "training_side.py"
DEFAULT_OUT = ROOT / "tests" / "fixtures" / "reference_models"
WINDOWS = [5, 10, 15]


@dataclass(frozen=True)
class Generation:
    """A set of training-side libraries; ``no_deps`` are installed with ``--no-deps``."""

    name: str
    requirements: tuple[str, ...]
    no_deps: tuple[str, ...] = ()


GENERATIONS: tuple[Generation, ...] = (
    # the training service's pinned set (contract §4)
    Generation("sklearn-1.3.2_xgboost-2.0.2", PINNED),
    # a later generation; xgboost 2.1's wheel declares nvidia-nccl-cu12 (CUDA, ~200 MB)
    # that CPU training never loads: installed without it, its real deps listed instead
    Generation(
        "sklearn-1.5.2_xgboost-2.1.4",
        (
            "scikit-learn==1.5.2",
            "numpy==2.1.3",
            "pandas==2.2.3",
            "joblib==1.4.2",
            "scipy==1.14.1",
        ),
        no_deps=("xgboost==2.1.4",),
    ),
)

TARGET = TimeTarget(variable="price_close", future_minutes=5, min_percent_change=10.0)
TRAINING_SIM = SimConfig(
    n_coins=40,
    seed=2025,
    start=datetime(2025, 6, 2, tzinfo=UTC),
    null_fraction=0.005,
    max_age_minutes=60,
)
PROBE_SIM = SimConfig(
    n_coins=12, seed=20260105, start=datetime(2026, 1, 5, tzinfo=UTC), max_age_minutes=120
)
# base features: every numeric coin_metrics column except the time-based target
BASE_FEATURES = [c for c in METRIC_COLUMNS if c != TARGET.variable]
RF_PARAMS: dict[str, Any] = {
    "n_estimators": 8,
    "max_depth": 5,
    "min_samples_leaf": 5,
    "class_weight": "balanced",
    "random_state": 7,
    "n_jobs": 1,
}
XGB_PARAMS: dict[str, Any] = {
    "n_estimators": 10,
    "max_depth": 3,
    "learning_rate": 0.3,
    "tree_method": "hist",
    "random_state": 7,
    "n_jobs": 1,
}
NULLABLE = (
    "volatility_pct",
    "unique_signer_ratio",
    "net_volume_sol",
    "market_cap_close",
    "dev_sold_amount",
    "buy_pressure_ratio",
    "whale_buy_volume_sol",
    "whale_sell_volume_sol",
    "avg_trade_size_sol",
)


def _cell(column: str, value: Any) -> Any:
    if column in BOOL_COLUMNS:
        return bool(value)
    if column in INT_COLUMNS:
        return int(value)
    number = float(value)
    return None if np.isnan(number) else number


def _coin_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """One coin's rows as JSON objects: ISO timestamp, every column, NULL as None."""
    rows = []
    for record in frame.to_dict("records"):
        row: dict[str, Any] = {"timestamp": pd.Timestamp(record["timestamp"]).isoformat()}
        row.update({c: _cell(c, record[c]) for c in METRIC_COLUMNS})
        rows.append(row)
    return rows


def training_coins() -> list[dict[str, Any]]:
    """The simulated training histories with their time-based labels (None: not used)."""
    frame = simulate_frame(TRAINING_SIM)
    frame = frame.sort_values(["mint", "timestamp"], kind="stable").reset_index(drop=True)
    labels = time_labels(frame, TARGET)
    coins = []
    for mint, part in frame.groupby("mint", sort=True):
        coins.append(
            {
                "mint": str(mint),
                "rows": _coin_rows(part),
                "labels": [None if np.isnan(v) else int(v) for v in labels.loc[part.index]],
            }
        )
    return coins


def probe_coins() -> list[dict[str, Any]]:
    """Five short coins (20-40 rows) whose last row is a probe snapshot.

    pump_dump: its first 30 rows; rug: first 25 rows; koth: every 7th row of its life
    (40 rows over two hours, so ATH ages pass 60 minutes); slow_death: its first 20 rows (no
    ATH breakout at all: minutes count from the first row), with a NULL ``price_close`` in
    row 10 (not part of the history) and ``market_cap_close`` = 0 five history rows before
    the end; another slow_death coin from row 115 on (tracked late, 20 rows): its first
    breakout is row 12, so the rows before it are quirk rows (``minutes_since_ath`` = 0)
    inside the last row's 15-row window. NULLs are put into NULL-able columns with a fixed
    seed, including some last rows.
    """
    frame = simulate_frame(PROBE_SIM)
    by_fate: dict[str, list[str]] = {}
    for spec in plan_coins(PROBE_SIM):
        by_fate.setdefault(spec.fate, []).append(spec.mint)
    picks = [  # (fate, which coin of that fate, rows)
        ("pump_dump", 0, slice(0, 30)),
        ("rug", 0, slice(0, 25)),
        ("koth", 0, slice(0, 280, 7)),
        ("slow_death", 0, slice(0, 20)),
        ("slow_death", 1, slice(115, 135)),
    ]
    rng = np.random.default_rng([20260105, 1])
    coins = []
    for number, (fate, which, rows) in enumerate(picks):
        mint = by_fate[fate][which]
        part = frame.loc[frame["mint"] == mint].iloc[rows].reset_index(drop=True).copy()
        n = len(part)
        for column in NULLABLE:
            hit = rng.random(n) < 0.12
            hit[-1] = number % 2 == 0 and column in NULLABLE[number::3]
            part.loc[hit, column] = np.nan
        if number == 3:
            part.loc[10, "price_close"] = np.nan  # a row outside the history
            part.loc[n - 6, "market_cap_close"] = 0.0  # w=5 rows before the last one
        coins.append({"mint": mint, "rows": _coin_rows(part)})
    return coins


def fixture_spec(generation: str) -> dict[str, Any]:
    """``histories.json`` for ``training_side.py fixtures``."""
    models = []
    for engineered in (False, True):
        suffix = "engineered" if engineered else "base"
        for prefix, model_type, params in (
            ("rf", "random_forest", RF_PARAMS),
            ("xgb", "xgboost", XGB_PARAMS),
        ):
            models.append(
                {
                    "file": f"{prefix}_{suffix}.joblib",
                    "model_type": model_type,
                    "engineered": engineered,
                    "base_features": BASE_FEATURES,
                    "params": params,
                }
            )
    return {
        "generation": generation,
        "windows": WINDOWS,
        "training_coins": training_coins(),
        "probe_coins": probe_coins(),
        "target": {
            "target_variable": TARGET.variable,
            "target_operator": None,
            "target_value": None,
            "params": {
                "_time_based": {
                    "enabled": True,
                    "future_minutes": TARGET.future_minutes,
                    "min_percent_change": TARGET.min_percent_change,
                    "direction": TARGET.direction,
                }
            },
        },
        "models": models,
        "probe": {"ordinary_rows": 30, "threshold_splits": 4},
    }


def _run_training_side(python: Path, spec_path: Path, out: Path) -> None:
    command = [str(python), str(TRAINING_SIDE), "fixtures", "--input", str(spec_path)]
    done = subprocess.run(
        [*command, "--out", str(out)], capture_output=True, text=True, timeout=600, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"training_side.py failed under {python}:\n{done.stdout}{done.stderr}")
    print(done.stdout.rstrip())


def _folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file())


def make_generation(generation: Generation, out_root: Path, env_root: Path | None) -> Path:
    """Build/reuse the env, run the training side, replace ``out_root/<generation>``."""
    started = time.monotonic()
    python = ensure_env(generation.requirements, no_deps=generation.no_deps, root=env_root)
    print(f"{generation.name}: env {python.parent.parent} ({time.monotonic() - started:.1f} s)")
    target = out_root / generation.name
    out_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="reference-fixtures-") as tmp:
        spec_path = Path(tmp) / "histories.json"
        spec_path.write_text(json.dumps(fixture_spec(generation.name)), encoding="utf-8")
        staging = Path(tmp) / "out"
        _run_training_side(python, spec_path, staging)
        shutil.rmtree(target, ignore_errors=True)
        shutil.move(str(staging), str(target))
    reference = json.loads((target / "reference.json").read_text(encoding="utf-8"))
    versions = ", ".join(f"{k} {v}" for k, v in reference["libraries"].items())
    print(f"{generation.name}: {versions}")
    print(f"{generation.name}: wrote {target} ({_folder_size(target) / 1024:.0f} KiB)")
    return target


def _same_folder(a: Path, b: Path) -> list[str]:
    names = sorted({p.name for p in a.iterdir()} | {p.name for p in b.iterdir()})
    return [
        n
        for n in names
        if not ((a / n).is_file() and (b / n).is_file())
        or not filecmp.cmp(a / n, b / n, shallow=False)
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="fixtures root folder")
    parser.add_argument("--env-root", type=Path, default=None, help="where the envs live")
    parser.add_argument(
        "--only", action="append", choices=[g.name for g in GENERATIONS], help="generation"
    )
    parser.add_argument(
        "--check", action="store_true", help="regenerate into a temp dir and compare with --out"
    )
    args = parser.parse_args(argv)
    chosen = [g for g in GENERATIONS if not args.only or g.name in args.only]
    if not args.check:
        for generation in chosen:
            make_generation(generation, args.out, args.env_root)
        return 0
    different: list[str] = []
    with tempfile.TemporaryDirectory(prefix="reference-fixtures-check-") as tmp:
        for generation in chosen:
            fresh = make_generation(generation, Path(tmp), args.env_root)
            stored = args.out / generation.name
            if not stored.is_dir():
                different.append(f"{generation.name}: missing in {args.out}")
                continue
            different += [f"{generation.name}/{n}" for n in _same_folder(fresh, stored)]
    for line in different:
        print(f"DIFFERENT: {line}")
    print("fixtures are up to date" if not different else "fixtures differ: regenerate them")
    return 1 if different else 0


if __name__ == "__main__":
    sys.exit(main())
