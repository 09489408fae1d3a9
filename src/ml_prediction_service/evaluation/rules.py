"""The one evaluation rule (docs/evaluation.md), pure: used by the live evaluator and by the
replay. The evaluator gets :class:`WindowFacts` from each coin's rows read once for all its
windows in a batch (:func:`facts_at`), the replay builds them from arrays."""

from __future__ import annotations

import math
import operator
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

RESULTS = ("success", "failed", "not_applicable")

_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    "<": operator.lt,
    ">=": operator.ge,
    "<=": operator.le,
    "=": operator.eq,
}


@dataclass(frozen=True, slots=True)
class EvaluationTarget:
    """What a model's label means (its ``ModelTarget`` fields that matter here)."""

    future_minutes: int | None
    price_change_percent: float | None
    target_direction: str | None
    target_operator: str | None = None
    target_value: float | None = None

    @property
    def has_horizon(self) -> bool:
        return bool(self.future_minutes)

    def horizon_at(self, data_timestamp: datetime) -> datetime | None:
        if not self.future_minutes:
            return None
        return data_timestamp + timedelta(minutes=self.future_minutes)


@dataclass(frozen=True, slots=True)
class WindowFacts:
    """One coin's ``target_variable`` around a prediction: on its row (start), on the newest
    row at or before the horizon (end), the extremes inside (data_timestamp, horizon] and the
    coin's newest row overall (``last_timestamp``, to tell a dead coin)."""

    start_value: float | None
    end_value: float | None
    end_timestamp: datetime | None
    max_value: float | None
    max_at: datetime | None
    min_value: float | None
    min_at: datetime | None
    last_timestamp: datetime | None


@dataclass(frozen=True, slots=True)
class Outcome:
    result: str
    target_hit: bool | None
    realised_change_pct: float | None
    max_change_pct: float | None
    max_at: datetime | None
    min_change_pct: float | None
    min_at: datetime | None
    note: str | None


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _pct(value: float | None, start: float) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return (value - start) / start * 100.0


def is_dead(facts: WindowFacts, horizon_at: datetime) -> bool:
    """No row of the coin after the horizon (yet)."""
    return facts.last_timestamp is None or facts.last_timestamp <= horizon_at


def evaluate(
    facts: WindowFacts, target: EvaluationTarget, prediction: int, horizon_at: datetime
) -> Outcome:
    """The outcome of one prediction whose horizon has passed (the caller decides *when*:
    rows after the horizon exist, or the dead-coin wait is over)."""
    start = facts.start_value
    if not _finite(start) or start == 0:
        return _not_applicable("the prediction's row has no usable target value")
    assert start is not None
    end = facts.end_value
    if not _finite(end):
        return _not_applicable("no target value at the horizon")
    assert end is not None
    change = (end - start) / start * 100.0
    if target.target_operator is not None:
        compare = _OPERATORS[target.target_operator]
        hit = compare(end, float(target.target_value or 0.0))
    else:
        pct = abs(float(target.price_change_percent or 0.0))
        hit = change <= -pct if target.target_direction == "down" else change >= pct
    note = None
    if is_dead(facts, horizon_at):
        note = (
            f"no rows after {facts.last_timestamp.isoformat() if facts.last_timestamp else '-'}:"
            " evaluated from the coin's last row"
        )
    return Outcome(
        result="success" if hit == (prediction == 1) else "failed",
        target_hit=hit,
        realised_change_pct=change,
        max_change_pct=_pct(facts.max_value, start),
        max_at=facts.max_at,
        min_change_pct=_pct(facts.min_value, start),
        min_at=facts.min_at,
        note=note,
    )


def _not_applicable(note: str) -> Outcome:
    return Outcome("not_applicable", None, None, None, None, None, None, note)


def facts_from_rows(
    timestamps: Sequence[datetime],
    values: Sequence[float | None],
    index: int,
    horizon_at: datetime,
) -> WindowFacts:
    """:class:`WindowFacts` of the row at ``index`` from one coin's rows in time order (the
    replay's path; the evaluator computes the same in SQL). NULL/NaN values are skipped for the
    extremes, like SQL's max/min skip NULL; on a tie the earliest row counts."""
    start = values[index]
    end_i = index
    n = len(timestamps)
    while end_i + 1 < n and timestamps[end_i + 1] <= horizon_at:
        end_i += 1
    max_v = min_v = None
    max_at = min_at = None
    for i in range(index + 1, end_i + 1):
        v = values[i]
        if not _finite(v):
            continue
        assert v is not None
        if max_v is None or v > max_v:
            max_v, max_at = v, timestamps[i]
        if min_v is None or v < min_v:
            min_v, min_at = v, timestamps[i]
    return WindowFacts(
        start_value=start,
        end_value=values[end_i],
        end_timestamp=timestamps[end_i],
        max_value=max_v,
        max_at=max_at,
        min_value=min_v,
        min_at=min_at,
        last_timestamp=timestamps[-1] if n else None,
    )


def finite_values(values: Iterable[float | None]) -> list[float | None]:
    """``values`` with every non-finite value (None, NaN, ±inf) as None."""
    return [v if _finite(v) else None for v in values]


def facts_at(
    timestamps: Sequence[datetime],
    values: Sequence[float | None],
    data_timestamp: datetime,
    horizon_at: datetime,
    last_timestamp: datetime | None,
    finite: Sequence[float | None] | None = None,
) -> WindowFacts:
    """:class:`WindowFacts` of the prediction at ``data_timestamp`` from one coin's rows in
    time order, which must hold every row in ``[data_timestamp, horizon_at]`` and the newest
    row before ``data_timestamp`` (when the coin has one): the live evaluator reads them once
    for all of a coin's windows in a batch.

    The same facts as :func:`facts_from_rows` when the prediction's row is among them; when
    it is not (the row is gone), the start value is None and the end row is the newest row
    at or before the horizon, which may be older than ``data_timestamp``. ``finite``:
    ``values`` with non-finite ones as None (computed when not given; pass it to share it
    between the windows of one coin)."""
    if finite is None:
        finite = finite_values(values)
    first = bisect_right(timestamps, data_timestamp)  # first row after data_timestamp
    stop = bisect_right(timestamps, horizon_at, lo=first)  # rows [first, stop) are inside
    start = values[first - 1] if first > 0 and timestamps[first - 1] == data_timestamp else None
    end = stop - 1
    max_v = min_v = None
    max_i = min_i = -1
    for i in range(first, stop):
        v = finite[i]
        if v is None:
            continue
        if max_v is None or v > max_v:
            max_v, max_i = v, i
        if min_v is None or v < min_v:
            min_v, min_i = v, i
    return WindowFacts(
        start_value=start,
        end_value=values[end] if end >= 0 else None,
        end_timestamp=timestamps[end] if end >= 0 else None,
        max_value=max_v,
        max_at=timestamps[max_i] if max_i >= 0 else None,
        min_value=min_v,
        min_at=timestamps[min_i] if min_i >= 0 else None,
        last_timestamp=last_timestamp,
    )
