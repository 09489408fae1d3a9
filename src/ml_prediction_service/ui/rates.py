"""Events/s and predictions/s from counters sampled over time (no Streamlit here).

The API exposes totals (``pipeline.events_processed`` in ``/api/health``,
``total_predictions`` in ``/api/stats``); rates are their differences over time. One tracker
per API lives as long as the UI process, so the history survives page changes and reruns.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class Sample:
    at: float  # epoch seconds
    events: int
    predictions: int


@dataclass(frozen=True)
class RatePoint:
    at: float  # end of the interval, epoch seconds
    events_per_second: float
    predictions_per_second: float


class RateTracker:
    """Keeps samples of the last ``window_seconds``; thread-safe (sessions run in threads)."""

    def __init__(self, window_seconds: float = 900.0, min_interval_seconds: float = 1.0) -> None:
        self.window_seconds = window_seconds
        self.min_interval_seconds = min_interval_seconds
        self._samples: deque[Sample] = deque(maxlen=10_000)
        self._lock = threading.Lock()

    def add(self, at: float, events: int, predictions: int) -> None:
        """Record counter values; a counter that went down (a restart) starts a new history."""
        with self._lock:
            if self._samples:
                last = self._samples[-1]
                if events < last.events or predictions < last.predictions:
                    self._samples.clear()
                elif at - last.at < self.min_interval_seconds:
                    return
            self._samples.append(Sample(at, events, predictions))
            while self._samples and self._samples[0].at < at - self.window_seconds:
                self._samples.popleft()

    def samples(self) -> list[Sample]:
        with self._lock:
            return list(self._samples)

    def series(self) -> list[RatePoint]:
        """One rate per interval between consecutive samples."""
        points = self.samples()
        return [
            RatePoint(
                b.at,
                (b.events - a.events) / (b.at - a.at),
                (b.predictions - a.predictions) / (b.at - a.at),
            )
            for a, b in itertools.pairwise(points)
            if b.at > a.at
        ]

    def current(self, span_seconds: float = 60.0) -> RatePoint | None:
        """The mean rates over (about) the last ``span_seconds``; None before two samples."""
        points = self.samples()
        if len(points) < 2:
            return None
        newest = points[-1]
        oldest = next((p for p in points if p.at >= newest.at - span_seconds), points[0])
        if oldest is newest:
            oldest = points[-2]
        dt = newest.at - oldest.at
        if dt <= 0:
            return None
        return RatePoint(
            newest.at,
            (newest.events - oldest.events) / dt,
            (newest.predictions - oldest.predictions) / dt,
        )
