"""Model objects stored once and referenced from outbox payloads (docs/webhooks.md, "Stored
payloads").

A payload names the full object of every model in it (contract §6), and most of a model's
object (~90 feature names) is the same in every payload. The outbox row stores
``{"$model":"<digest>", "total_predictions": ..., "last_prediction_at": ...}`` instead; the
static part's text lives once in ``prediction_webhook_model_objects`` under ``<digest>`` (the
SHA-256 of the text, so a stored object never changes). ``expand`` puts the text back: the
body that goes out is byte for byte what the full payload would have been, because orjson
keeps key order and the static fields come first in ``payload.model_object``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from ml_prediction_service import jsoncodec
from ml_prediction_service.alerts.payload import changing_model_fields, static_model_object
from ml_prediction_service.models.metadata import ActiveModelRecord

MARKER = '{"$model":"'
# The reference as orjson writes it: compact, the digest first, then the changing fields.
# Inside a JSON string a quote is escaped (\"), so this cannot match a string's content.
_REFERENCE = re.compile(r'\{"\$model":"([0-9a-f]{32})",')


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class ModelObjects:
    """The static model objects that a batch's payloads refer to (digest -> text), to be
    stored beside them in the same transaction (``webhooks_repo.enqueue``)."""

    def __init__(self) -> None:
        self.texts: dict[str, str] = {}

    def reference(self, model: ActiveModelRecord) -> dict[str, Any]:
        """A model's object in a stored payload (``payload.build_payload(make_object=...)``)."""
        text = jsoncodec.dumps_text(static_model_object(model))
        key = digest(text)
        self.texts[key] = text
        return {"$model": key} | changing_model_fields(model)


def referenced(body: str) -> set[str]:
    """The digests a stored payload refers to."""
    return set(_REFERENCE.findall(body)) if MARKER in body else set()


def expand(body: str, texts: Mapping[str, str]) -> tuple[str, int]:
    """The payload as it is sent, and how many references had no stored text (left as they
    are: the body stays valid JSON, with the model's id and changing fields missing)."""
    if MARKER not in body:
        return body, 0
    missing = 0

    def full(match: re.Match[str]) -> str:
        nonlocal missing
        text = texts.get(match.group(1))
        if text is None:
            missing += 1
            return match.group(0)
        return text[:-1] + ","  # the static object without its "}", the changing fields follow

    return _REFERENCE.sub(full, body), missing


class StoredObjects:
    """The digests this process has seen committed: a batch stores only the objects not
    among them (in steady state none; a new or edited model's once)."""

    def __init__(self, limit: int = 4096) -> None:
        self._known: set[str] = set()
        self._limit = limit

    def unstored(self, objects: ModelObjects) -> dict[str, str]:
        return {d: t for d, t in objects.texts.items() if d not in self._known}

    def committed(self, objects: ModelObjects) -> None:
        """After the transaction that stored ``objects`` committed."""
        if len(self._known) + len(objects.texts) > self._limit:
            self._known.clear()
        self._known.update(objects.texts)
