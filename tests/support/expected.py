"""What a prediction must be, computed independently of the pipeline: the coin's whole
history read with plain SQL, the pandas reference features (as the training service computes
them), the native estimator's predict_proba."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import asyncpg
import joblib
import numpy as np
import pandas as pd

from ml_prediction_service.features import BASE_COLUMNS, create_pump_detection_features


async def expected_input(
    conn: asyncpg.Connection | asyncpg.Pool, mint: str, at: datetime, input_columns: list[str]
) -> np.ndarray:
    """The model's input row (1 × columns) for the coin's snapshot at ``at``."""
    rows = await conn.fetch(
        'SELECT * FROM coin_metrics WHERE mint = $1 AND "timestamp" <= $2 ORDER BY "timestamp"',
        mint,
        at,
    )
    frame = pd.DataFrame([dict(r) for r in rows])
    for column in BASE_COLUMNS:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    features = create_pump_detection_features(frame)
    last = features.iloc[-1]
    x = np.array([[float(last[c]) for c in input_columns]])
    return np.where(np.isfinite(x), x, 0.0)


async def expected_probability(
    conn: asyncpg.Connection | asyncpg.Pool,
    mint: str,
    at: datetime,
    model_file: Path,
    input_columns: list[str],
) -> float:
    x = await expected_input(conn, mint, at, input_columns)
    estimator = joblib.load(model_file)
    return float(estimator.predict_proba(x)[0, 1])
