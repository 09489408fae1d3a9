"""The naive design, as a baseline: for each event and each model, read the coin's last
FEATURE_HISTORY_SIZE rows, build features with pandas, call predict_proba on one row, and
insert one prediction. Bounded in count and time."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np
import pandas as pd

from ml_prediction_service.db import naive_repo
from ml_prediction_service.features import (
    BASE_COLUMNS,
    create_pump_detection_features,
    model_window_sizes,
)
from ml_prediction_service.models.decision import decide
from ml_prediction_service.models.loader import load_estimator
from ml_prediction_service.models.metadata import ActiveModelRecord


@dataclass
class NaiveModel:
    model_id: int
    estimator: Any
    input_columns: list[str]
    params: dict[str, Any]
    alert_threshold: float


def load_naive_models(
    rows: list[ActiveModelRecord], inputs: dict[int, list[str]]
) -> list[NaiveModel]:
    return [
        NaiveModel(
            r.id,
            load_estimator(Path(r.local_model_path), expected_type=r.model_type),
            inputs[r.id],
            dict(r.params),
            r.alert_threshold,
        )
        for r in rows
    ]


async def run_naive(
    conn: asyncpg.Connection,
    models: list[NaiveModel],
    events: list[tuple[str, Any]],
    *,
    history_size: int,
    seconds: float,
) -> tuple[int, float]:
    """Process events one by one, one model at a time; returns (events done, elapsed)."""
    await naive_repo.create_sink(conn)
    started = time.perf_counter()
    done = 0
    for mint, ts in events:
        if time.perf_counter() - started > seconds:
            break
        for model in models:
            rows = await naive_repo.last_rows(conn, mint, ts, history_size)
            frame = pd.DataFrame([dict(r) for r in rows]).sort_values("timestamp")
            for c in BASE_COLUMNS:
                frame[c] = pd.to_numeric(frame[c], errors="coerce").astype(float)
            features = create_pump_detection_features(frame, model_window_sizes(model.params))
            x = features[model.input_columns].iloc[[-1]].to_numpy(dtype=float)
            x = np.where(np.isfinite(x), x, 0.0)
            d = decide(np.asarray(model.estimator.predict_proba(x))[:, 1], model.alert_threshold)
            await naive_repo.insert_prediction(
                conn, mint, ts, model.model_id, int(d.prediction[0]), float(d.probability[0])
            )
        done += 1
    return done, time.perf_counter() - started
