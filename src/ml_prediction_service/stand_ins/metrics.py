"""Classification metrics stored in ``ml_models`` (rounded to NUMERIC(5,4))."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def _ratio(num: float, den: float) -> float:
    return round(num / den, 4) if den else 0.0


def _mcc(tp: int, tn: int, fp: int, fn: int) -> float:
    den = float(np.sqrt(float(tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)))
    return round((tp * tn - fp * fn) / den, 4) if den else 0.0


def classification_metrics(
    y_true: NDArray[np.int64], proba: NDArray[np.float64], threshold: float = 0.5
) -> tuple[dict[str, float | None], dict[str, int]]:
    """accuracy, f1, precision, recall, roc_auc (None with one class), mcc, fpr, fnr and the
    confusion matrix ``{tp, tn, fp, fn}``."""
    from sklearn.metrics import roc_auc_score

    y_pred = (proba >= threshold).astype(np.int64)
    tp = int(np.sum((y_pred == 1) & (y_true == 1)))
    tn = int(np.sum((y_pred == 0) & (y_true == 0)))
    fp = int(np.sum((y_pred == 1) & (y_true == 0)))
    fn = int(np.sum((y_pred == 0) & (y_true == 1)))
    precision = _ratio(tp, tp + fp)
    recall = _ratio(tp, tp + fn)
    f1 = _ratio(2 * tp, 2 * tp + fp + fn)
    both = len(np.unique(y_true)) == 2
    metrics: dict[str, float | None] = {
        "accuracy": _ratio(tp + tn, tp + tn + fp + fn),
        "f1": f1,
        "precision": precision,
        "recall": recall,
        "roc_auc": round(float(roc_auc_score(y_true, proba)), 4) if both else None,
        "mcc": _mcc(tp, tn, fp, fn),
        "fpr": _ratio(fp, fp + tn),
        "fnr": _ratio(fn, fn + tp),
    }
    return metrics, {"tp": tp, "tn": tn, "fp": fp, "fn": fn}
