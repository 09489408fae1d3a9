"""Training labels (rule- and time-based) and stored metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml_prediction_service.stand_ins.labels import RuleTarget, TimeTarget, rule_labels, time_labels
from ml_prediction_service.stand_ins.metrics import classification_metrics


def _coin(mint: str, minutes: list[float], prices: list[float]) -> pd.DataFrame:
    base = pd.Timestamp("2025-01-01", tz="UTC")
    return pd.DataFrame(
        {
            "mint": mint,
            "timestamp": [base + pd.Timedelta(minutes=m) for m in minutes],
            "price_close": prices,
        }
    )


def test_rule_labels_compare_the_same_row_and_keep_nulls_unlabelled() -> None:
    frame = pd.DataFrame({"market_cap_close": [50.0, 100.0, 150.0, np.nan]})
    assert rule_labels(frame, RuleTarget("market_cap_close", ">", 100)).tolist()[:3] == [0, 0, 1]
    assert np.isnan(rule_labels(frame, RuleTarget()).iloc[3])
    assert rule_labels(frame, RuleTarget("market_cap_close", ">=", 100)).tolist()[:3] == [0, 1, 1]
    assert rule_labels(frame, RuleTarget("market_cap_close", "=", 50)).tolist()[:3] == [1, 0, 0]


def test_time_labels_look_ahead_within_the_window_and_the_coin() -> None:
    frame = pd.concat(
        [
            _coin("a", [0, 1, 5, 11, 12], [1.0, 1.1, 1.25, 2.0, 2.0]),
            _coin("b", [0, 1], [3.0, 0.5]),
        ],
        ignore_index=True,
    )
    up = time_labels(frame, TimeTarget(future_minutes=10, min_percent_change=20.0))
    # a@0: within (0, 10] max 1.25 -> +25 %; a@1: (1, 11] sees 2.0; a@5: 2.0 -> +60 %;
    # a@11: 2.0 -> 0 %; a@12: no future row; b@0: falls; b@1: no future row.
    assert up.tolist()[:4] == [1.0, 1.0, 1.0, 0.0]
    assert np.isnan(up.iloc[4]) and np.isnan(up.iloc[6])
    assert up.iloc[5] == 0.0
    down = time_labels(frame, TimeTarget(min_percent_change=50.0, direction="down"))
    assert down.iloc[5] == 1.0  # 3.0 -> 0.5 is -83 %
    assert down.iloc[0] == 0.0


def test_time_labels_need_sorted_rows() -> None:
    frame = _coin("a", [5, 0], [1.0, 2.0])
    with pytest.raises(ValueError):
        time_labels(frame, TimeTarget())


def test_metrics_and_confusion_matrix() -> None:
    y = np.array([1, 1, 0, 0, 0], dtype=np.int64)
    proba = np.array([0.9, 0.2, 0.7, 0.1, 0.3])
    metrics, cm = classification_metrics(y, proba)
    assert cm == {"tp": 1, "tn": 2, "fp": 1, "fn": 1}
    assert metrics["accuracy"] == 0.6
    assert metrics["precision"] == 0.5 and metrics["recall"] == 0.5 and metrics["f1"] == 0.5
    assert metrics["fpr"] == round(1 / 3, 4) and metrics["fnr"] == 0.5
    assert metrics["roc_auc"] == round(4 / 6, 4)  # 4 of 6 (pos, neg) pairs ranked right
    single, _ = classification_metrics(np.zeros(3, dtype=np.int64), np.array([0.1, 0.2, 0.9]))
    assert single["roc_auc"] is None
