"""Turn a batch's new predictions into outbox rows (written in the batch's transaction)."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import datetime
from typing import Any

from ml_prediction_service.alerts.payload import (
    OutgoingEvaluation,
    OutgoingPrediction,
    build_evaluation_payload,
    build_payload,
)
from ml_prediction_service.alerts.routing import sends_evaluations, target_url

OutboxRow = tuple[str, datetime, str, dict[str, Any], str]


def idempotency_key(
    coin_id: str, timestamp: datetime, url: str, model_ids: list[int], *, kind: str = ""
) -> str:
    """The delivery's key; ``kind`` (``"evaluation"``) keeps an evaluation delivery's key
    apart from its alert's."""
    prefix = f"{kind}|" if kind else ""
    raw = f"{prefix}{coin_id}|{timestamp.isoformat()}|{url}|{','.join(map(str, sorted(model_ids)))}"
    return hashlib.sha256(raw.encode()).hexdigest()[:40]


def outbox_rows(
    items: list[tuple[str, datetime, OutgoingPrediction]],
    default_url: str | None,
) -> list[OutboxRow]:
    """One row per (coin snapshot, URL) with every given model's prediction in it.

    ``items`` are (coin_id, data timestamp, prediction) of predictions already selected for
    sending (``alerts/selection.py``: routed, fresh, by send mode, outside ignore windows).
    """
    groups: dict[tuple[str, datetime, str], list[OutgoingPrediction]] = defaultdict(list)
    for coin_id, timestamp, pred in items:
        url = target_url(pred.model, default_url)
        if url is not None:
            groups[(coin_id, timestamp, url)].append(pred)
    rows: list[OutboxRow] = []
    models: dict[int, dict[str, Any]] = {}  # one object per model for the whole batch
    for (coin_id, timestamp, url), preds in groups.items():
        key = idempotency_key(coin_id, timestamp, url, [p.model.id for p in preds])
        payload = build_payload(coin_id, timestamp, preds, model_objects=models)
        rows.append((coin_id, timestamp, url, payload, key))
    rows.sort(key=lambda r: (r[1], r[0]))
    return rows


def evaluation_outbox_rows(
    items: list[tuple[str, datetime, OutgoingEvaluation]],
    default_url: str | None,
) -> list[OutboxRow]:
    """One row per (coin snapshot, URL) with the outcomes of its evaluated alerts, for the
    models whose webhook is on and whose send modes include ``evaluations``."""
    groups: dict[tuple[str, datetime, str], list[OutgoingEvaluation]] = defaultdict(list)
    for coin_id, timestamp, item in items:
        url = target_url(item.model, default_url)
        if url is not None and sends_evaluations(item.model):
            groups[(coin_id, timestamp, url)].append(item)
    rows: list[OutboxRow] = []
    models: dict[int, dict[str, Any]] = {}
    for (coin_id, timestamp, url), group in groups.items():
        key = idempotency_key(
            coin_id, timestamp, url, [e.model.id for e in group], kind="evaluation"
        )
        payload = build_evaluation_payload(coin_id, timestamp, group, model_objects=models)
        rows.append((coin_id, timestamp, url, payload, key))
    rows.sort(key=lambda r: (r[1], r[0]))
    return rows
