"""Defaults for newly imported models, stored in the database (``prediction_model_defaults``)
and changed through ``/api/settings/model-defaults``. Until they are set there, the
environment gives them (``DEFAULT_ALERT_THRESHOLD``; the webhook URL None means
``N8N_WEBHOOK_URL``)."""

from __future__ import annotations

from dataclasses import dataclass

COIN_FILTER_MODES = ("all", "whitelist", "blacklist")


@dataclass(frozen=True)
class ModelDefaults:
    alert_threshold: float
    webhook_url: str | None = None
    webhook_enabled: bool = True
    webhook_send_mode: tuple[str, ...] = ("all",)
    ignore_alert_seconds: int = 0
    ignore_positive_seconds: int = 0
    ignore_negative_seconds: int = 0
    coin_filter_mode: str = "all"
    coin_filter: tuple[str, ...] = ()
    stored: bool = False  # False: nothing stored yet, these come from the environment

    def delivery_values(self) -> list[object]:
        """webhook_url … coin_filter as database values, in the order of those columns."""
        return [
            self.webhook_url,
            self.webhook_enabled,
            list(self.webhook_send_mode),
            self.ignore_alert_seconds,
            self.ignore_positive_seconds,
            self.ignore_negative_seconds,
            self.coin_filter_mode,
            list(self.coin_filter),
        ]
