"""Which of a batch's predictions become webhooks: routed (enabled, with a URL), fresh (not
stale), selected by the model's send modes (by tag), and not inside the model's ignore window
for that coin and tag (those are stored as ``suppressed``, not sent).

Ignore windows run in coin time: after a model sent (queued) a prediction with tag T for a
coin at data timestamp t, its predictions with tag T for that coin with data timestamp
before t + ignore_T_seconds are suppressed. The last sent time per (model, coin, tag) lives
in ``prediction_webhook_windows``, so every replica sees the same windows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ml_prediction_service.alerts.payload import OutgoingPrediction
from ml_prediction_service.alerts.routing import passes, target_url
from ml_prediction_service.models.decision import TAGS
from ml_prediction_service.pipeline.history import Snapshot
from ml_prediction_service.pipeline.predictor import BatchOutcome


@dataclass(frozen=True, slots=True)
class Candidate:
    """A prediction that would be sent, unless its ignore window suppresses it."""

    result: int  # index into BatchOutcome.results
    row: int  # index into that result's arrays
    coin: int  # index into the batch's snapshots
    mint: str
    timestamp: datetime
    tag: str
    window_seconds: int  # the model's ignore window for this tag (0: none)

    @property
    def key(self) -> tuple[int, int]:
        return (self.result, self.row)


def candidates(
    outcome: BatchOutcome,
    snapshots: Sequence[Snapshot],
    stale: Sequence[bool],
    default_url: str | None,
) -> list[Candidate]:
    out: list[Candidate] = []
    for r, result in enumerate(outcome.results):
        record = result.model.record
        if target_url(record, default_url) is None:
            continue
        # per tag code, once per model: whether its send modes select it, and its window
        sends = [passes(record, tag) for tag in TAGS]
        windows = [record.ignore_seconds(tag) for tag in TAGS]
        codes = result.decisions.tag_code.tolist()
        for k, coin in enumerate(result.coins.tolist()):
            code = codes[k]
            if stale[coin] or not sends[code]:
                continue
            snap = snapshots[coin]
            out.append(Candidate(r, k, coin, snap.mint, snap.timestamp, TAGS[code], windows[code]))
    return out


def windowed_keys(outcome: BatchOutcome, cands: Sequence[Candidate]) -> list[tuple[int, str, str]]:
    """(active model id, coin, tag) of the candidates that have an ignore window."""
    return [(outcome.results[c.result].model.id, c.mint, c.tag) for c in cands if c.window_seconds]


def suppressed(
    outcome: BatchOutcome,
    cands: Sequence[Candidate],
    last_sent: dict[tuple[int, str, str], datetime],
) -> set[tuple[int, int]]:
    """Keys of the candidates inside their ignore window."""
    out: set[tuple[int, int]] = set()
    for c in cands:
        if not c.window_seconds:
            continue
        sent = last_sent.get((outcome.results[c.result].model.id, c.mint, c.tag))
        if sent is not None and c.timestamp < sent + timedelta(seconds=c.window_seconds):
            out.add(c.key)
    return out


def outgoing(outcome: BatchOutcome, c: Candidate) -> OutgoingPrediction:
    result = outcome.results[c.result]
    d = result.decisions
    return OutgoingPrediction(
        result.model.record,
        int(d.prediction[c.row]),
        float(d.probability[c.row]),
        bool(d.is_alert[c.row]),
        result.model.alert_threshold,
        c.tag,
        result.reasons.get(c.row),
    )
