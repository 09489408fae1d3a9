"""Random coin histories for property tests of the feature fast path and the history
store, and the reference they are checked against."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from ml_prediction_service.features import (
    ENGINEERING_INPUT_COLUMNS,
    batch_feature_names,
    create_pump_detection_features,
)
from tests.support.prefix_state import history_row_mask

NAN, INF = math.nan, math.inf
T0_NS = 1_714_564_800_000_000_000  # 2024-05-01T12:00:00Z
SECOND = 1_000_000_000
WINDOW_CHOICES = [(5, 10, 15), (2, 3), (1,), (3, 1, 7), (4,)]
# No example database: nothing is written into the working tree.
PROPERTY = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@dataclass
class History:
    """One coin's rows (possibly including rows outside the history), time-ordered."""

    ts: NDArray[np.int64]
    columns: dict[str, NDArray[np.float64]]

    def __len__(self) -> int:
        return len(self.ts)

    def frame(self, rows: int | None = None) -> pd.DataFrame:
        end = len(self) if rows is None else rows
        data: dict[str, object] = {
            "mint": ["COIN"] * end,
            "timestamp": pd.to_datetime(self.ts[:end], utc=True),
        }
        data.update({c: v[:end] for c, v in self.columns.items()})
        return pd.DataFrame(data)

    def valid(self) -> History:
        keep = history_row_mask(self.columns)
        return History(self.ts[keep], {c: v[keep] for c, v in self.columns.items()})

    def rows(
        self, start: int, stop: int
    ) -> tuple[NDArray[np.int64], dict[str, NDArray[np.float64]]]:
        return self.ts[start:stop], {c: v[start:stop] for c, v in self.columns.items()}


# 0.1 and 0.7 are not exact in binary: constant windows of them test the exact-mean rule
SPECIAL = [0.0, -0.0, 1.0, 0.5, 2.0, 0.1, 0.7, 0.15, 1e-8, NAN, INF, -INF]
any_value = st.one_of(
    st.sampled_from(SPECIAL),
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
)
price_value = st.one_of(
    st.sampled_from([0.0, 1.0, 2.0, 0.1, 1e-8, NAN, INF]),
    st.floats(1e-9, 1e3),
)
gap_seconds = st.one_of(
    st.sampled_from([0, 1, 30, 59, 60, 3600, 86_400, 90_000]),
    st.integers(0, 200_000),
)


@st.composite
def histories(draw: st.DrawFn, min_rows: int = 1, max_rows: int = 40) -> History:
    n = draw(st.integers(min_rows, max_rows))
    gaps = draw(st.lists(gap_seconds, min_size=n, max_size=n))
    micro = draw(st.lists(st.integers(0, 999_999), min_size=n, max_size=n))
    ts = T0_NS + np.cumsum(np.asarray(gaps, dtype=np.int64)) * SECOND
    ts = np.maximum.accumulate(ts + np.asarray(micro, dtype=np.int64) * 1000)
    columns: dict[str, NDArray[np.float64]] = {}
    for name in ENGINEERING_INPUT_COLUMNS:
        strategy = price_value if name in ("price_close", "price_high") else any_value
        values = draw(st.lists(strategy, min_size=n, max_size=n))
        # runs of equal values (quiet coins repeat themselves): constant windows
        repeat = draw(st.lists(st.booleans(), min_size=n, max_size=n))
        for i in range(1, n):
            if repeat[i]:
                values[i] = values[i - 1]
        columns[name] = np.asarray(values, dtype=float)
    return History(ts, columns)


def reference_row(
    history: History, windows: Sequence[int], rows: int | None = None
) -> NDArray[np.float64]:
    """Last row of the reference on the history up to ``rows`` (in ``batch_feature_names``)."""
    out = create_pump_detection_features(history.frame(rows), windows)
    return out[batch_feature_names(windows)].iloc[-1].to_numpy(dtype=np.float64)


def assert_equal_features(
    got: NDArray[np.float64], want: NDArray[np.float64], names: list[str]
) -> None:
    assert np.isfinite(got).all(), [
        n for n, v in zip(names, got, strict=True) if not np.isfinite(v)
    ]
    bad = [
        (n, g, w)
        for n, g, w in zip(names, got, want, strict=True)
        if not math.isclose(g, w, rel_tol=1e-9, abs_tol=0.0)
    ]
    assert not bad, bad
