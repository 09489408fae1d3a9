"""Numbers a bigint cannot hold are refused as 422 with a JSON message, never a 500.

Found by fuzzing the OpenAPI schema (Schemathesis): such ids and offsets reached the
database driver, which cannot encode them.
"""

from __future__ import annotations

import pytest

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
