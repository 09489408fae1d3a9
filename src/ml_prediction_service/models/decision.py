"""The one rule that turns a probability into what is stored and sent.

``predictions.probability`` is NUMERIC(5,4): the probability is rounded to 4 decimals first,
and the decisions are taken on that stored value, so a row never contradicts itself
(0.699965 is stored as 0.7000 and is an alert at threshold 0.7; 0.50003 is stored as 0.5000
and is not positive). The webhook carries the same stored value.

* prediction = 1 when the stored probability is > 0.5;
* is_alert when the stored probability is ≥ the model's alert threshold;
* tag: ``alert`` when is_alert, else ``positive`` when prediction = 1, else ``negative`` (the
  original author's tags; a stored 0.5000 exactly is negative, as scikit-learn's predict).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

DEFAULT_ALERT_THRESHOLD = 0.7
STORED_DECIMALS = 4  # predictions.probability NUMERIC(5,4)
POSITIVE_ABOVE = 0.5
TAGS = ("negative", "positive", "alert")  # index = tag code


@dataclass(frozen=True, slots=True)
class Decisions:
    raw: NDArray[np.float64]  # the model's own probabilities (POST /api/predict shows these)
    probability: NDArray[np.float64]  # as stored (rounded to STORED_DECIMALS)
    prediction: NDArray[np.int64]  # 0 / 1
    is_alert: NDArray[np.bool_]

    @property
    def tag_code(self) -> NDArray[np.int64]:
        """0 negative, 1 positive, 2 alert (index into TAGS)."""
        return np.where(self.is_alert, 2, self.prediction).astype(np.int64)


def decide(probabilities: NDArray[np.float64], threshold: float) -> Decisions:
    """Decisions for one model's probabilities at its alert threshold."""
    raw = np.asarray(probabilities, dtype=np.float64)
    stored = np.asarray(np.round(raw, STORED_DECIMALS), dtype=np.float64)
    return Decisions(
        raw,
        stored,
        (stored > POSITIVE_ABOVE).astype(np.int64),
        stored >= round(float(threshold), STORED_DECIMALS),
    )
