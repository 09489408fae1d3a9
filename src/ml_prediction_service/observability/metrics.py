"""Prometheus metrics with the binding names of contract §6, on a registry owned by the service.

Every metric lives on the :class:`Metrics` instance's own registry (no global registry),
so each app and each test has its own.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from functools import partial

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Sample

from ml_prediction_service.db.events_repo import PENDING_COUNT_CAP

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


class _Alias:
    """Exposes a counter's samples again under another name (same values, one writer)."""

    def __init__(self, counter: Counter, name: str, note: str) -> None:
        self.counter = counter
        self.name = name
        self.note = note

    def _renamed(self) -> Iterator[Metric]:
        for family in self.counter.collect():
            alias = Metric(self.name, f"{family.documentation} ({self.note})", family.type)
            for sample in family.samples:
                suffix = sample.name[len(family.name) :]
                alias.samples.append(Sample(self.name + suffix, *sample[1:]))
            yield alias

    def describe(self) -> list[Metric]:
        return [Metric(self.name, self.note, "counter")]

    def collect(self) -> Iterator[Metric]:
        return self._renamed()


class Metrics:
    """All service metrics. Names, types and labels as contract §6 binds them."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        # every metric on this registry; the latencies share their buckets
        counter = partial(Counter, registry=self.registry)
        gauge = partial(Gauge, registry=self.registry)
        latency = partial(Histogram, buckets=_LATENCY_BUCKETS, registry=self.registry)
        self.predictions_total = counter(
            "ml_predictions_total", "Predictions made", ["model_id", "model_name"]
        )
        # contract §6 names this series twice: one counter, exposed under both names
        self.registry.register(
            _Alias(self.predictions_total, "ml_predictions_by_model", "per model")
        )
        self.alerts_triggered_total = counter(
            "ml_alerts_triggered_total", "Predictions at or above the alert threshold", ["model_id"]
        )
        self.errors_total = counter(
            "ml_errors_total", "Errors by type (model_load, prediction, db, ...)", ["type"]
        )
        self.active_models = gauge("ml_active_models", "Active models")
        self.models_loaded = gauge("ml_models_loaded", "Active models loaded in memory and serving")
        self.coins_tracked = gauge("ml_coins_tracked", "Coins tracked")
        self.coin_cache_bytes = gauge(
            "ml_coin_cache_bytes",
            "Bytes of the workers' coin history arrays (every slot allocated, used or not)",
        )
        self.prediction_duration_seconds = latency(
            "ml_prediction_duration_seconds", "Duration of a prediction (one batch)"
        )
        self.feature_processing_duration_seconds = latency(
            "ml_feature_processing_duration_seconds", "Duration of feature processing"
        )
        self.model_load_duration_seconds = latency(
            "ml_model_load_duration_seconds", "Duration of loading a model file"
        )
        self.models_failed = gauge(
            "ml_models_failed",
            "Active models that cannot be loaded, whose file is missing or changed, or whose "
            "last batch failed",
        )
        self.model_batch_failures_total = counter(
            "ml_model_batch_failures_total",
            "Batches in which a model failed (raised or returned no probabilities)",
            ["model_id"],
        )
        self.db_connected = gauge(
            "ml_db_connected", "Database connection (1 connected, 0 disconnected)"
        )
        self.service_uptime_seconds = gauge(
            "ml_service_uptime_seconds", "Seconds since the service started"
        )
        # Beyond the binding list: the pipeline's own health.
        self.predictions_skipped_total = counter(
            "ml_predictions_skipped_total",
            "Coin snapshots not predicted, by reason (too_little_history, ...)",
            ["reason"],
        )
        self.events_processed_total = counter(
            "ml_events_processed_total", "coin_metrics events processed"
        )
        self.event_latency_seconds = latency(
            "ml_event_latency_seconds",
            "From the coin_metrics insert to its predictions being committed",
        )
        self.pipeline_stage_seconds = latency(
            "ml_pipeline_stage_seconds",
            "Time per stage of a prediction batch (claim, history_query, assemble, features, "
            "models, reasons, build_rows, insert, outbox, write, commit)",
            ["stage"],
        )
        self.history_rows_total = counter(
            "ml_history_rows_loaded_total", "coin_metrics rows read for batch histories"
        )
        self.history_coins_seeded_total = counter(
            "ml_history_coins_seeded_total",
            "Coins whose history was read from their first row (not in the per-coin cache)",
        )
        self.events_pending = gauge(
            "ml_events_pending",
            f"Durable events waiting to be processed (counted up to {PENDING_COUNT_CAP:,}: "
            "at least that many)",
        )
        self.webhook_deliveries_total = counter(
            "ml_webhook_deliveries_total", "Webhooks delivered (2xx)"
        )
        self.webhook_failures_total = counter(
            "ml_webhook_failures_total", "Webhooks given up on (4xx, attempts or age)"
        )
        self.webhook_retries_total = counter(
            "ml_webhook_retries_total", "Webhook attempts that will be retried"
        )
        self.webhook_attempts_total = counter(
            "ml_webhook_attempts_total", "Webhook attempts by outcome", ["outcome"]
        )
        self.webhook_closed_total = counter(
            "ml_webhook_outbox_closed_total",
            "Deliveries closed, by final status (delivered, failed, superseded, expired)",
            ["status"],
        )
        self.webhook_delivery_lag_seconds = Histogram(
            "ml_webhook_delivery_lag_seconds",
            "From a delivery's predictions being written to its 2xx answer",
            buckets=(*_LATENCY_BUCKETS, 30.0, 60.0, 300.0),
            registry=self.registry,
        )
        self.webhook_outbox_depth = gauge(
            "ml_webhook_outbox_depth", "Webhook deliveries not yet delivered or failed"
        )
        self.webhook_oldest_pending_seconds = gauge(
            "ml_webhook_oldest_pending_seconds", "Age of the oldest open webhook delivery"
        )
        # Live model quality (issue 15): written by the quality monitor only
        self.model_alert_precision = gauge(
            "ml_model_alert_precision",
            "Live alert precision of an active model: share of its last "
            "ALERT_PRECISION_MIN_ALERTS evaluated alerts (fewer while it has fewer) that came "
            "true; no series before its first evaluated alert",
            ["model_id", "model_name"],
        )
        self.model_alert_precision_alerts = gauge(
            "ml_model_alert_precision_alerts",
            "Evaluated alerts ml_model_alert_precision is computed over (at most "
            "ALERT_PRECISION_MIN_ALERTS)",
            ["model_id", "model_name"],
        )
        # Outcome evaluation (issue 15): written by the evaluator only
        self.evaluations_total = counter(
            "ml_evaluations_total",
            "Predictions evaluated by this process, by result (success, failed, not_applicable)",
            ["result"],
        )
        self.evaluation_backlog = gauge(
            "ml_evaluation_backlog",
            "Due evaluation rows (coin snapshot and horizon) whose check time has come, not "
            "yet evaluated (as of the evaluator's last round)",
        )
        # Retention: the partition keeper is the one writer of these.
        self.partitions = gauge(
            "ml_partitions", "Time partitions of a table (without its DEFAULT partition)", ["table"]
        )
        self.partitions_dropped_total = counter(
            "ml_partitions_dropped_total", "Partitions dropped by retention", ["table"]
        )
        self.partition_lock_retries_total = counter(
            "ml_partition_lock_retries_total",
            "Partition keeper steps that gave up waiting for a lock and are retried next round",
            ["table"],
        )
        self.partition_default_rows = gauge(
            "ml_partition_default_rows",
            "Rows in a table's DEFAULT partition (outside every created range; never dropped)",
            ["table"],
        )
        self._started = time.monotonic()
        self.service_uptime_seconds.set_function(lambda: time.monotonic() - self._started)

    def pipeline_breakdown(self) -> dict[str, float]:
        """Seconds per pipeline stage so far, plus the rows and seeded coins the history
        loader read (the benchmark prints this)."""
        totals: dict[str, float] = {}
        for family in self.pipeline_stage_seconds.collect():
            for sample in family.samples:
                if sample.name.endswith("_sum"):
                    totals[sample.labels["stage"]] = sample.value
        for name, counter in (
            ("history_rows", self.history_rows_total),
            ("seeded_coins", self.history_coins_seeded_total),
        ):
            for family in counter.collect():
                totals[name] = sum(x.value for x in family.samples if x.name.endswith("_total"))
        return totals

    def render(self) -> bytes:
        """The exposition text of every metric."""
        return bytes(generate_latest(self.registry))
