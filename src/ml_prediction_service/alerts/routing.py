"""Which predictions go to which webhook URL, per model settings.

A model sends when its webhook is enabled and a URL is known (its own override, else
``N8N_WEBHOOK_URL``); its send modes are a set combined with OR that selects by tag
(models/decision.py): ``all``, ``alerts_only`` (alert), ``positive_only`` (positive:
0.5 < p < threshold), ``negative_only`` (negative). ``evaluations`` selects no prediction:
it adds the follow-up with the outcome of each evaluated alert (not implied by ``all``).
Stale predictions are never sent; within a model's ignore window for a tag, a coin's
predictions are stored as suppressed, not sent.
"""

from __future__ import annotations

from ml_prediction_service.models.metadata import ActiveModelRecord

SEND_MODES = ("all", "alerts_only", "positive_only", "negative_only", "evaluations")


def configured_url(model: ActiveModelRecord, default_url: str | None) -> str | None:
    """The model's own URL, else the default; whether or not its webhook is enabled."""
    url = model.webhook_url or default_url
    return str(url) if url else None


def target_url(model: ActiveModelRecord, default_url: str | None) -> str | None:
    """Where the model's predictions go, or None when its webhook is off or has no URL."""
    return configured_url(model, default_url) if model.webhook_enabled else None


def passes(model: ActiveModelRecord, tag: str) -> bool:
    """Whether the model's send modes (OR-combined) select a prediction with this tag:
    ``all``, ``alerts_only`` (alert), ``positive_only`` (positive), ``negative_only``
    (negative)."""
    modes = model.webhook_send_mode or ("all",)
    return "all" in modes or MODE_OF_TAG[tag] in modes


MODE_OF_TAG = {"alert": "alerts_only", "positive": "positive_only", "negative": "negative_only"}


def sends_evaluations(model: ActiveModelRecord) -> bool:
    """Whether the model sends the outcome of its evaluated alerts (send mode
    ``evaluations``)."""
    return "evaluations" in (model.webhook_send_mode or ())
