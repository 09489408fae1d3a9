"""Stored payloads refer to model objects; expanded, they are the full payloads byte for byte."""

from __future__ import annotations

from datetime import timedelta

from ml_prediction_service import jsoncodec
from ml_prediction_service.alerts import references
from ml_prediction_service.alerts.outbox import evaluation_outbox_rows, outbox_rows
from ml_prediction_service.alerts.payload import OutgoingEvaluation, OutgoingPrediction
from ml_prediction_service.models.metadata import ActiveModelRecord
from tests.support.records import TS, active_record


def pred(m: ActiveModelRecord, p: float) -> OutgoingPrediction:
    return OutgoingPrediction(m, int(p > 0.5), p, p >= 0.7, 0.7, "alert" if p >= 0.7 else "x")


def models() -> list[ActiveModelRecord]:
    return [
        # a name with a quote, a brace and the marker itself: a reference is never matched
        # inside a string
        active_record(1, custom_name='say "{"$model":"' + "a" * 32 + '",'),
        active_record(2, features=tuple(f"f{i}" for i in range(90)), phases=None),
        active_record(3, webhook_url="http://other", last_prediction_at=None),
    ]


def items() -> list[tuple[str, object, OutgoingPrediction]]:
    ms = models()
    return [
        (coin, TS + timedelta(seconds=k), pred(m, 0.9 - 0.1 * i))
        for k, coin in enumerate(["A", "B\\u00e9", "C"])
        for i, m in enumerate(ms)
    ]


def test_expanded_payloads_are_the_full_payloads_byte_for_byte() -> None:
    full = outbox_rows(items(), "http://default")  # type: ignore[arg-type]
    objects = references.ModelObjects()
    stored = outbox_rows(items(), "http://default", objects)  # type: ignore[arg-type]
    assert len(objects.texts) == 3  # one per model, whatever the number of payloads
    assert [r[:3] + r[4:] for r in stored] == [r[:3] + r[4:] for r in full]  # same keys
    for (*_, payload, _k), (*_, stored_payload, _k2) in zip(full, stored, strict=True):
        text = jsoncodec.dumps_text(stored_payload)
        assert len(text) < len(jsoncodec.dumps_text(payload))
        assert references.referenced(text) <= set(objects.texts)
        expanded, missing = references.expand(text, objects.texts)
        assert missing == 0
        assert expanded == jsoncodec.dumps_text(payload)


def test_evaluation_payloads_refer_too() -> None:
    m = active_record(4, webhook_send_mode=("alerts_only", "evaluations"))
    evaluation = {"result": "correct", "target_hit": True, "evaluated_at": TS}
    item = ("A", TS, OutgoingEvaluation(m, 7, 1, 0.9, 0.7, evaluation))
    objects = references.ModelObjects()
    [full] = evaluation_outbox_rows([item], "http://default")
    [stored] = evaluation_outbox_rows([item], "http://default", objects)
    expanded, missing = references.expand(jsoncodec.dumps_text(stored[3]), objects.texts)
    assert (expanded, missing) == (jsoncodec.dumps_text(full[3]), 0)


def test_a_changed_model_is_a_new_object_and_a_missing_one_is_counted() -> None:
    objects = references.ModelObjects()
    one = objects.reference(active_record(1))
    renamed = objects.reference(active_record(1, custom_name="new"))
    counted = objects.reference(active_record(1, total_predictions=99))
    assert one["$model"] != renamed["$model"]
    assert one["$model"] == counted["$model"]  # the changing fields stay in the payload
    assert counted["total_predictions"] == 99
    text = jsoncodec.dumps_text({"model": one})
    assert references.expand(text, {}) == (text, 1)


def test_stored_objects_are_written_until_committed() -> None:
    known = references.StoredObjects(limit=2)
    objects = references.ModelObjects()
    objects.reference(active_record(1))
    assert known.unstored(objects) == objects.texts
    known.committed(objects)
    assert known.unstored(objects) == {}
    more = references.ModelObjects()
    for i in (2, 3):
        more.reference(active_record(i))
    known.committed(more)  # over the limit: forgets what it knew, then learns these
    assert known.unstored(objects) == objects.texts and known.unstored(more) == {}
