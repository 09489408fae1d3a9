"""The demo's models: trained once by the training-service stand-in, reused afterwards."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pandas as pd

from ml_prediction_service.db import ml_models_repo
from ml_prediction_service.stand_ins.training import (
    ModelType,
    TargetKind,
    simulated_history,
    train_demo_model,
)

TRAINING_COINS = 40
TRAINING_SEED = 42


@dataclass(frozen=True)
class DemoModel:
    name: str
    model_type: ModelType
    target: TargetKind


# Random Forest and XGBoost, each rule-based (market cap > 100 SOL in the same row) and
# time-based (price up at least 20 % within the next 10 minutes).
DEMO_MODELS: tuple[DemoModel, ...] = (
    DemoModel("Demo RF: market cap > 100 SOL", "random_forest", "rule"),
    DemoModel("Demo XGB: market cap > 100 SOL", "xgboost", "rule"),
    DemoModel("Demo RF: +20% within 10 min", "random_forest", "time"),
    DemoModel("Demo XGB: +20% within 10 min", "xgboost", "time"),
)


async def ready_models(conn: asyncpg.Connection, names: list[str]) -> dict[str, int]:
    """name → ml_models.id of the READY, not deleted models among ``names``."""
    return await ml_models_repo.ready_ids(conn, names)


async def ensure_demo_models(
    conn: asyncpg.Connection,
    models_dir: Path,
    progress: Callable[[str], None],
    models: tuple[DemoModel, ...] = DEMO_MODELS,
    *,
    trainer: Callable[[], Awaitable[Path | None]] | None = None,
) -> dict[str, int]:
    """Train the demo models that do not exist yet; return name → ml_models.id for all.

    ``trainer`` gives the interpreter to fit with (the pinned training environment) and is
    only asked when a model is missing; None or a None answer fits with this interpreter."""
    existing = await ready_models(conn, [m.name for m in models])
    missing = [m for m in models if m.name not in existing]
    for model in models:
        if model.name in existing:
            progress(f"model {model.name!r}: already trained (ml_models id {existing[model.name]})")
    if not missing:
        return existing
    python = await trainer() if trainer is not None else None
    progress(f"simulating {TRAINING_COINS} coins to train {len(missing)} model(s) on …")
    history: pd.DataFrame = await asyncio.to_thread(
        simulated_history, TRAINING_COINS, TRAINING_SEED
    )
    for i, model in enumerate(missing, start=1):
        started = time.monotonic()
        progress(
            f"[{i}/{len(missing)}] training {model.name!r} "
            f"({model.model_type}, {model.target}-based) …"
        )
        result = await train_demo_model(
            conn,
            models_dir,
            model.model_type,
            model.target,
            model.name,
            TRAINING_SEED,
            history=history,
            python=python,
        )
        metrics = result["metrics"]
        progress(
            f"[{i}/{len(missing)}] {model.name!r} READY in {time.monotonic() - started:.1f}s "
            f"(ml_models id {result['id']}, accuracy {metrics['accuracy']}, "
            f"ROC AUC {metrics['roc_auc']}, scikit-learn {result['libraries']['scikit-learn']}, "
            f"xgboost {result['libraries']['xgboost']})"
        )
        existing[model.name] = int(result["id"])
    return existing
