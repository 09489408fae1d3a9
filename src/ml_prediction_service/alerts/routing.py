"""Which predictions go to which webhook URL, per model settings.

A model sends when its webhook is enabled and a URL is known (its own override, else
``N8N_WEBHOOK_URL``); its send modes are a set combined with OR: ``all``, ``alerts_only``
(is_alert), ``positive_only`` (prediction 1), ``negative_only`` (prediction 0). Stale
predictions are never sent.
"""

from __future__ import annotations

from ml_prediction_service.models.metadata import ActiveModelRecord

SEND_MODES = ("all", "alerts_only", "positive_only", "negative_only")


def configured_url(model: ActiveModelRecord, default_url: str | None) -> str | None:
    """The model's own URL, else the default; whether or not its webhook is enabled."""
    url = model.webhook_url or default_url
    return str(url) if url else None


def target_url(model: ActiveModelRecord, default_url: str | None) -> str | None:
    """Where the model's predictions go, or None when its webhook is off or has no URL."""
    return configured_url(model, default_url) if model.webhook_enabled else None


def passes(model: ActiveModelRecord, prediction: int, is_alert: bool) -> bool:
    modes = model.webhook_send_mode or ("all",)
    return (
        "all" in modes
        or ("alerts_only" in modes and is_alert)
        or ("positive_only" in modes and prediction == 1)
        or ("negative_only" in modes and prediction == 0)
    )
