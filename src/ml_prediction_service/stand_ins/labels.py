"""Training labels the way the training service defines them (contract §3).

* rule-based: ``target_variable <operator> target_value`` on the same row;
* time-based: the price changes by at least ``price_change_percent`` (up or down) within
  the next ``future_minutes`` of the coin's history.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

Operator = Literal[">", "<", ">=", "<=", "="]
Direction = Literal["up", "down"]

_OPERATORS: dict[str, np.ufunc] = {
    ">": np.greater,
    "<": np.less,
    ">=": np.greater_equal,
    "<=": np.less_equal,
    "=": np.equal,
}


@dataclass(frozen=True)
class RuleTarget:
    """Same-row rule, e.g. ``market_cap_close > 100``."""

    variable: str = "market_cap_close"
    op: Operator = ">"
    value: float = 100.0


@dataclass(frozen=True)
class TimeTarget:
    """Future price move of ``variable`` (price_close) within ``future_minutes``."""

    variable: str = "price_close"
    future_minutes: int = 10
    min_percent_change: float = 20.0
    direction: Direction = "up"


def rule_labels(frame: pd.DataFrame, target: RuleTarget) -> pd.Series:
    """1/0 per row; rows whose target value is NULL get NaN (the caller drops them)."""
    values = pd.to_numeric(frame[target.variable], errors="raise").to_numpy(np.float64)
    hit = np.asarray(_OPERATORS[target.op](values, target.value), dtype=np.float64)
    hit[np.isnan(values)] = np.nan
    return pd.Series(hit, index=frame.index)


def time_labels(frame: pd.DataFrame, target: TimeTarget) -> pd.Series:
    """1/0 per row of a frame sorted by (mint, timestamp); NaN where no future row exists.

    Up: ``(max future price - price) / price x 100 >= min_percent_change``; down: the same
    with the minimum and the sign turned. Future = rows of the same coin with
    ``timestamp`` in ``(t, t + future_minutes]``.
    """
    price = pd.to_numeric(frame[target.variable], errors="raise").to_numpy(np.float64)
    coin = pd.factorize(frame["mint"])[0].astype(np.int64)
    seconds = pd.DatetimeIndex(frame["timestamp"]).as_unit("s").asi8.astype(np.int64)
    key = coin * 10**11 + (seconds - seconds.min() if len(seconds) else seconds)
    if np.any(np.diff(key) < 0):
        raise ValueError("time_labels needs the frame sorted by (mint, timestamp)")
    n = len(frame)
    end = np.searchsorted(key, key + target.future_minutes * 60, side="right")
    sign = 1.0 if target.direction == "up" else -1.0
    best: NDArray[np.float64] = np.full(n, -np.inf)
    idx = np.arange(n)
    for k in range(1, int((end - idx).max(initial=1))):  # bounded by rows per window
        j = idx + k
        valid = j < end
        ahead = np.where(valid, sign * price[np.minimum(j, n - 1)], -np.inf)
        best = np.maximum(best, np.where(np.isnan(ahead), -np.inf, ahead))
    with np.errstate(divide="ignore", invalid="ignore"):
        change = (best - sign * price) / price * 100.0
    labels = np.where(change >= target.min_percent_change, 1.0, 0.0)
    labels[~np.isfinite(best) | ~np.isfinite(price) | (price <= 0)] = np.nan
    return pd.Series(labels, index=frame.index)
