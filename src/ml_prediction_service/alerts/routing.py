"""Which predictions go to which webhook URL, per model settings.

A model sends when its webhook is enabled and a URL is known (its own override, else
``N8N_WEBHOOK_URL``); its send modes are a set combined with OR: ``all``, ``alerts_only``
(is_alert), ``positive_only`` (prediction 1), ``negative_only`` (prediction 0). Stale
predictions are never sent.
"""

from __future__ import annotations

from typing import Any

SEND_MODES = ("all", "alerts_only", "positive_only", "negative_only")


def target_url(meta: dict[str, Any], default_url: str | None) -> str | None:
    if not meta.get("webhook_enabled", True):
        return None
    url = meta.get("webhook_url") or default_url
    return str(url) if url else None


def passes(meta: dict[str, Any], prediction: int, is_alert: bool) -> bool:
    modes = meta.get("webhook_send_mode") or ["all"]
    return (
        "all" in modes
        or ("alerts_only" in modes and is_alert)
        or ("positive_only" in modes and prediction == 1)
        or ("negative_only" in modes and prediction == 0)
    )
