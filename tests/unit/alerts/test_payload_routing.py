from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest

from ml_prediction_service.alerts.delivery import Attempt, next_attempt_at, sign
from ml_prediction_service.alerts.outbox import outbox_rows
from ml_prediction_service.alerts.payload import OutgoingPrediction, build_payload
from ml_prediction_service.alerts.routing import passes, target_url
from ml_prediction_service.models.decision import TAGS, decide
from ml_prediction_service.models.metadata import ActiveModelRecord
from tests.support.records import TS, active_record

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[3] / "docs" / "webhook-payload.schema.json").read_text()
)


def meta(active_id: int, **kw: Any) -> ActiveModelRecord:
    return active_record(active_id, **kw)


def pred(m: ActiveModelRecord, p: float, threshold: float = 0.7) -> OutgoingPrediction:
    prediction, alert = int(p > 0.5), p >= threshold
    tag = TAGS[2 if alert else prediction]
    return OutgoingPrediction(m, prediction, p, alert, threshold, tag)


def test_payload_follows_the_guide_and_the_schema() -> None:
    payload = build_payload(
        "COIN", TS, [pred(meta(2, custom_name="Pump"), 0.9), pred(meta(1), 0.2)]
    )
    jsonschema.validate(payload, SCHEMA, format_checker=jsonschema.FormatChecker())
    assert payload["coin_id"] == "COIN" and payload["timestamp"] == TS.isoformat()
    first, second = payload["predictions"]
    assert first["model"]["active_model_id"] == 1  # stable order by active model id
    assert second["model"]["name"] == "Pump" and second["model"]["custom_name"] == "Pump"
    assert second["model"]["id"] == 102
    assert second["is_alert"] is True and first["is_alert"] is False
    assert payload["metadata"]["total_predictions"] == 2
    assert payload["metadata"]["alerts_count"] == 1
    assert payload["metadata"]["service"] == "ml-prediction-service"


def test_schema_rejects_a_broken_payload() -> None:
    payload = build_payload("COIN", TS, [pred(meta(1), 0.9)])
    del payload["predictions"][0]["model"]["features"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(payload, SCHEMA)


@pytest.mark.parametrize(
    ("modes", "tag", "expected"),
    [
        (["all"], "negative", True),
        (["alerts_only"], "positive", False),
        (["alerts_only"], "alert", True),
        (["positive_only"], "positive", True),
        (["positive_only"], "alert", False),  # positive is below the alert threshold
        (["negative_only"], "negative", True),
        (["alerts_only", "negative_only"], "negative", True),
        (["alerts_only", "negative_only"], "positive", False),
    ],
)
def test_send_modes_select_by_tag_and_are_or_combined(
    modes: list[str], tag: str, expected: bool
) -> None:
    assert passes(meta(1, webhook_send_mode=modes), tag) is expected


def test_tags_follow_the_stored_decision() -> None:
    d = decide(np.array([0.2, 0.50003, 0.6, 0.699965, 0.95]), 0.7)
    assert [TAGS[c] for c in d.tag_code] == ["negative", "negative", "positive", "alert", "alert"]
    assert d.prediction.tolist() == [0, 0, 1, 1, 1] and d.probability[3] == 0.7


def test_payload_entries_carry_their_tag() -> None:
    payload = build_payload(
        "COIN", TS, [pred(meta(1), 0.2), pred(meta(2), 0.6), pred(meta(3), 0.9)]
    )
    assert [p["tag"] for p in payload["predictions"]] == ["negative", "positive", "alert"]


def test_url_override_default_and_disabled() -> None:
    assert target_url(meta(1), "http://d") == "http://d"
    assert target_url(meta(1, webhook_url="http://o"), "http://d") == "http://o"
    assert target_url(meta(1, webhook_enabled=False), "http://d") is None
    assert target_url(meta(1), None) is None


def test_outbox_groups_by_coin_and_url() -> None:
    a, b, c = meta(1), meta(2, webhook_url="http://other"), meta(3)
    items = [
        ("X", TS, pred(a, 0.9)),
        ("X", TS, pred(b, 0.9)),
        ("X", TS, pred(c, 0.1)),
        ("Y", TS, pred(a, 0.3)),
    ]
    rows = outbox_rows(items, "http://default")
    grouped = {(r[0], r[2]): r[3] for r in rows}
    assert set(grouped) == {("X", "http://default"), ("X", "http://other"), ("Y", "http://default")}
    assert [
        p["model"]["active_model_id"] for p in grouped[("X", "http://default")]["predictions"]
    ] == [1, 3]
    keys = [r[4] for r in rows]
    assert len(set(keys)) == 3
    assert outbox_rows(items, "http://default") == rows  # deterministic keys


def test_backoff_grows_is_capped_and_honours_retry_after() -> None:
    import random

    rng = random.Random(1)
    fail = Attempt(503, "", "HTTP 503", 5)
    delays = [
        (next_attempt_at(n, fail, base=1.0, cap=30.0, rng=rng) - datetime.now(UTC)).total_seconds()
        for n in range(1, 12)
    ]
    assert all(-0.1 <= d <= 30.1 for d in delays)
    later = Attempt(429, "", "HTTP 429", 5, retry_after=20.0)
    d = (next_attempt_at(1, later, base=0.1, cap=60, rng=rng) - datetime.now(UTC)).total_seconds()
    assert 19 <= d <= 20.1
    # n8n answers 404 for a workflow that is not active (yet): retried, like 408/425/429/5xx
    for status in (404, 408, 425, 429, 500, 503):
        assert Attempt(status, "", "", 1).retryable, status
    for status in (400, 401, 403, 410, 422):
        assert Attempt(status, "", "", 1).retryable is False, status
    assert Attempt(None, None, "x", 1).retryable
    assert Attempt(None, None, "bad url", 1, fatal=True).retryable is False


def test_signature_is_hmac_sha256_of_the_body() -> None:
    import hashlib
    import hmac

    body = b'{"a":1}'
    assert sign(body, "s3") == "sha256=" + hmac.new(b"s3", body, hashlib.sha256).hexdigest()
