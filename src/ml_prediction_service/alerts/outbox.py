"""Turn a batch's new predictions into outbox rows (written in the batch's transaction)."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from ml_prediction_service.alerts.payload import (
    OutgoingEvaluation,
    OutgoingPrediction,
    build_evaluation_payload,
    build_payload,
    model_object,
)
from ml_prediction_service.alerts.references import ModelObjects
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
    objects: ModelObjects | None = None,
) -> list[OutboxRow]:
    """One row per (coin snapshot, URL) with every given model's prediction in it.

    ``items`` are (coin_id, data timestamp, prediction) of predictions already selected for
    sending (``alerts/selection.py``: routed, fresh, by send mode, outside ignore windows).
    With ``objects``, the payloads refer to the models' static objects, which ``objects``
    collects (to be stored with the rows: ``webhooks_repo.enqueue``); without, each payload
    has the full objects.
    """
    return _grouped_rows(items, default_url, build_payload, objects)


def evaluation_outbox_rows(
    items: list[tuple[str, datetime, OutgoingEvaluation]],
    default_url: str | None,
    objects: ModelObjects | None = None,
) -> list[OutboxRow]:
    """One row per (coin snapshot, URL) with the outcomes of its evaluated alerts, for the
    models whose webhook is on and whose send modes include ``evaluations``; ``objects`` as
    in ``outbox_rows``."""
    chosen = [item for item in items if sends_evaluations(item[2].model)]
    return _grouped_rows(chosen, default_url, build_evaluation_payload, objects, kind="evaluation")


Item = TypeVar("Item", OutgoingPrediction, OutgoingEvaluation)


def _grouped_rows(
    items: list[tuple[str, datetime, Item]],
    default_url: str | None,
    build: Callable[..., dict[str, Any]],
    objects: ModelObjects | None,
    *,
    kind: str = "",
) -> list[OutboxRow]:
    """Group by (coin, timestamp, the model's URL), one payload and key per group, oldest
    first; ``build(coin_id, timestamp, group, model_objects=...)`` makes the payload."""
    groups: dict[tuple[str, datetime, str], list[Item]] = defaultdict(list)
    for coin_id, timestamp, item in items:
        url = target_url(item.model, default_url)
        if url is not None:
            groups[(coin_id, timestamp, url)].append(item)
    rows: list[OutboxRow] = []
    models: dict[int, dict[str, Any]] = {}  # one object per model for the whole batch
    make_object = objects.reference if objects is not None else model_object
    for (coin_id, timestamp, url), group in groups.items():
        key = idempotency_key(coin_id, timestamp, url, [i.model.id for i in group], kind=kind)
        payload = build(coin_id, timestamp, group, model_objects=models, make_object=make_object)
        rows.append((coin_id, timestamp, url, payload, key))
    rows.sort(key=lambda r: (r[1], r[0]))
    return rows
