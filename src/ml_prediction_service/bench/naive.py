"""The guide's design, as a baseline: for each event and each model, read the coin's last
FEATURE_HISTORY_SIZE rows, build features with pandas, call predict_proba on one row, and
insert one prediction. Bounded in count and time."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import joblib
import numpy as np
import pandas as pd

from ml_prediction_service.features import (
    BASE_COLUMNS,
    create_pump_detection_features,
    model_window_sizes,
)

CREATE_SINK = """
CREATE TABLE IF NOT EXISTS bench_naive_predictions (
    id BIGSERIAL PRIMARY KEY, coin_id TEXT, data_timestamp TIMESTAMPTZ, model_id BIGINT,
    prediction INTEGER, probability NUMERIC(5, 4), created_at TIMESTAMPTZ DEFAULT now())
"""


@dataclass
class NaiveModel:
    model_id: int
    estimator: Any
    input_columns: list[str]
    params: dict[str, Any]


def load_naive_models(rows: list[dict[str, Any]], inputs: dict[int, list[str]]) -> list[NaiveModel]:
    return [
        NaiveModel(
            int(r["id"]),
            joblib.load(Path(r["local_model_path"])),
            inputs[int(r["id"])],
            r.get("params") or {},
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
    await conn.execute(CREATE_SINK)
    columns = ", ".join(f'"{c}"' for c in BASE_COLUMNS)
    query = (
        f'SELECT mint, "timestamp", {columns} FROM coin_metrics '
        'WHERE mint = $1 AND "timestamp" <= $2 ORDER BY "timestamp" DESC LIMIT $3'
    )
    started = time.perf_counter()
    done = 0
    for mint, ts in events:
        if time.perf_counter() - started > seconds:
            break
        for model in models:
            rows = await conn.fetch(query, mint, ts, history_size)
            frame = pd.DataFrame([dict(r) for r in rows]).sort_values("timestamp")
            for c in BASE_COLUMNS:
                frame[c] = pd.to_numeric(frame[c], errors="coerce").astype(float)
            features = create_pump_detection_features(frame, model_window_sizes(model.params))
            x = features[model.input_columns].iloc[[-1]].to_numpy(dtype=float)
            x = np.where(np.isfinite(x), x, 0.0)
            p = float(model.estimator.predict_proba(x)[0, 1])
            await conn.execute(
                "INSERT INTO bench_naive_predictions (coin_id, data_timestamp, model_id, "
                "prediction, probability) VALUES ($1, $2, $3, $4, $5)",
                mint,
                ts,
                model.model_id,
                int(p > 0.5),
                round(p, 4),
            )
        done += 1
    return done, time.perf_counter() - started
