"""Turn a batch's new predictions into outbox rows (written in the batch's transaction)."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import datetime
from typing import Any

from ml_prediction_service.alerts.payload import OutgoingPrediction, build_payload
from ml_prediction_service.alerts.routing import target_url

OutboxRow = tuple[str, datetime, str, dict[str, Any], str]


def idempotency_key(coin_id: str, timestamp: datetime, url: str, model_ids: list[int]) -> str:
    raw = f"{coin_id}|{timestamp.isoformat()}|{url}|{','.join(map(str, sorted(model_ids)))}"
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
