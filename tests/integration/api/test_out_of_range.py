"""Numbers a bigint cannot hold are refused as 422 with a JSON message, never a 500.

Found by fuzzing the OpenAPI schema (Schemathesis, now ``test_fuzz.py``): such ids and
offsets reached the database driver, which cannot encode them. So did text with NUL or an
unpaired surrogate, times whose UTC instant is outside years 1-9999, and upload metadata
numbers too large for their columns; a time range must not end before it starts.
"""

from __future__ import annotations

import json

import pytest

from tests.support.models import TrainedFile
from tests.support.world import World

TOO_BIG = 2**63  # one past PostgreSQL's bigint
TOO_SMALL = -(2**63) - 1

REQUESTS = [
    ("GET", f"/api/models/{TOO_BIG}", None, None),
    ("GET", f"/api/models/{TOO_SMALL}", None, None),
    ("POST", f"/api/models/{TOO_BIG}/activate", None, None),
    ("PATCH", f"/api/models/{TOO_BIG}/rename", None, {"name": "x"}),
    ("DELETE", f"/api/models/{TOO_BIG}", None, None),
    ("GET", f"/api/predictions/{TOO_BIG}", None, None),
    ("GET", "/api/predictions", {"offset": str(3 * 10**21)}, None),
    ("GET", "/api/predictions", {"model_id": str(TOO_BIG)}, None),
    ("GET", "/api/predictions", {"active_model_id": str(TOO_SMALL)}, None),
    ("GET", "/api/webhooks/log", {"outbox_id": str(TOO_BIG)}, None),
    ("GET", "/api/webhooks/log", {"offset": str(TOO_BIG)}, None),
    ("POST", f"/api/webhooks/outbox/{TOO_BIG}/retry", None, None),
    ("POST", "/api/models/import", None, {"model_id": TOO_BIG}),
]


@pytest.mark.parametrize(("method", "path", "params", "body"), REQUESTS)
async def test_out_of_range_numbers_are_a_422(
    world: World, method: str, path: str, params: dict[str, str] | None, body: object
) -> None:
    resp = await world.api.request(method, path, params=params, json=body)
    assert resp.status_code == 422, resp.text
    detail = resp.json()
    assert detail["code"] == "validation_error"
    assert "less than or equal" in detail["detail"] or "greater than or equal" in detail["detail"]


async def test_the_largest_bigint_is_a_plain_404(world: World) -> None:
    resp = await world.api.get(f"/api/models/{2**63 - 1}")
    assert resp.status_code == 404 and resp.json()["code"] == "not_found"


BAD_TIMES = [
    # a range that ends before it starts
    ("GET", "/api/predictions", {"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}),
    ("GET", "/api/coins/C/metrics", {"from": "2026-01-02", "to": "2026-01-01"}),
    # not a time
    ("GET", "/api/predictions", {"from": "yesterday"}),
    ("GET", "/api/webhooks/log", {"from": "2026-13-01T00:00:00"}),
    # a valid ISO time whose UTC instant is outside years 1-9999
    ("GET", "/api/predictions", {"to": "0001-01-01T00:00:00+01:00"}),
    ("GET", "/api/webhooks/log", {"from": "9999-12-31T23:59:59-01:00"}),
]


@pytest.mark.parametrize(("method", "path", "params"), BAD_TIMES)
async def test_bad_times_and_ranges_are_a_422(
    world: World, method: str, path: str, params: dict[str, str]
) -> None:
    resp = await world.api.request(method, path, params=params)
    assert resp.status_code == 422, resp.text
    assert resp.json()["code"] == "validation_error"
    assert resp.json()["detail"].startswith("invalid request: query.")


async def test_a_retry_range_that_ends_before_it_starts_is_a_422(world: World) -> None:
    body = {"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}
    resp = await world.api.post("/api/webhooks/outbox/retry", json=body)
    assert resp.status_code == 422, resp.text
    assert "'from' must not be after 'to'" in resp.json()["detail"]


async def test_a_time_without_offset_is_utc_and_mixes_with_one_that_has_it(world: World) -> None:
    both = {"from": "2026-01-01T00:00:00", "to": "2026-01-01T00:00:00+00:00"}
    assert (await world.api.get("/api/predictions", params=both)).status_code == 200
    later = {"from": "2026-01-01T01:00:00", "to": "2026-01-01T00:30:00-01:00"}
    assert (await world.api.get("/api/predictions", params=later)).status_code == 200
    earlier = {"from": "2026-01-01T01:00:00", "to": "2026-01-01T01:30:00+01:00"}
    resp = await world.api.get("/api/predictions", params=earlier)
    assert resp.status_code == 422 and "must not be after" in resp.json()["detail"]


NUL, LONE_SURROGATE = "a\x00b", "a\ud800b"
BAD_TEXT = [
    ("GET", "/api/predictions", {"coin_id": NUL}, None),
    ("GET", "/api/webhooks/log", {"coin_id": NUL}, None),
    ("GET", "/api/webhooks/outbox/deliveries", {"coin_id": NUL}, None),
    ("GET", "/api/predictions/latest/a%00b", None, None),
    ("GET", "/api/coins/a%00b/metrics", None, None),
    ("POST", "/api/predict", None, {"coin_id": NUL}),
    ("POST", "/api/predict", None, {"coin_id": LONE_SURROGATE}),
    ("PATCH", "/api/models/1/rename", None, {"name": LONE_SURROGATE}),
    ("PATCH", "/api/models/1/rename", None, {"name": "x", "description": NUL}),
    ("PATCH", "/api/models/1/coin-filter", None, {"mode": "whitelist", "coins": [NUL]}),
    ("PATCH", "/api/settings/model-defaults", None, {"coin_filter": [LONE_SURROGATE]}),
]


@pytest.mark.parametrize(("method", "path", "params", "body"), BAD_TEXT)
async def test_text_postgres_cannot_store_is_a_422(
    world: World, method: str, path: str, params: dict[str, str] | None, body: object
) -> None:
    # json.dumps escapes both (\u0000, \ud800), as any client's JSON encoder would
    content = None if body is None else json.dumps(body).encode()
    resp = await world.api.request(
        method, path, params=params, content=content, headers={"Content-Type": "application/json"}
    )
    assert resp.status_code == 422, resp.text
    detail = resp.json()["detail"]
    # pydantic refuses some unpaired surrogates itself ("... as a unicode string")
    reasons = ("NUL character", "unpaired UTF-16 surrogate", "unicode string")
    assert any(reason in detail for reason in reasons), detail


async def test_upload_metadata_out_of_column_range_is_a_422(
    world: World, trained: dict[str, TrainedFile]
) -> None:
    meta = {
        "name": "uploaded-rf",
        "model_type": "random_forest",
        "target_variable": "price_close",
        "target_operator": ">",
        "target_value": 1,
        "features": ["price_close"],
    }
    file = ("m.joblib", trained["rf"].path.read_bytes(), "application/octet-stream")
    cases = [
        ({"target_value": 1e30}, "target_value"),
        ({"future_minutes": 2**40}, "future_minutes"),
        ({"params": {"_time_based": {"future_minutes": 2**40}}}, "future_minutes"),
        ({"params": {"_time_based": {"min_percent_change": "lots"}}}, "price_change_percent"),
        ({"params": {"note": NUL}}, "NUL character"),
    ]
    for change, named in cases:
        resp = await world.api.post(
            "/api/models/upload",
            data={"metadata": json.dumps({**meta, **change})},
            files={"file": file},
        )
        assert resp.status_code == 422, (change, resp.text)
        assert named in resp.json()["detail"], (change, resp.text)
