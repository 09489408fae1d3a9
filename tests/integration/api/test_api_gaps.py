"""Small API behaviours: rename with a description, JSON body errors that say where and
what, upload errors that name the uploaded file, and the README's list of our tables."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.support.models import TrainedFile
from tests.support.webhooks import import_two
from tests.support.world import World

README = Path(__file__).resolve().parents[3] / "README.md"


async def test_rename_takes_an_optional_description(
    world: World, trained: dict[str, TrainedFile]
) -> None:
    model = (await import_two(world, trained))[0]
    path = f"/api/models/{model['id']}/rename"

    both = await world.api.patch(path, json={"name": "Pump 5m", "description": "RF, 5 min"})
    assert both.status_code == 200, both.text
    assert both.json()["name"] == "Pump 5m" and both.json()["description"] == "RF, 5 min"

    name_only = (await world.api.patch(path, json={"name": "Pump 10m"})).json()
    assert name_only["name"] == "Pump 10m" and name_only["description"] == "RF, 5 min"
    kept = (await world.api.patch(path, json={"name": "Pump 10m", "description": None})).json()
    assert kept["description"] == "RF, 5 min"

    cleared = (await world.api.patch(path, json={"name": "Pump 10m", "description": " "})).json()
    assert cleared["description"] is None
    stored = await world.pool.fetchval(
        "SELECT description FROM prediction_active_models WHERE id = $1", model["id"]
    )
    assert stored is None

    unknown = await world.api.patch(path, json={"name": "x", "notes": "y"})
    assert unknown.status_code == 422 and "notes" in unknown.json()["detail"]


@pytest.mark.parametrize(
    ("body", "line", "column", "hint"),
    [
        ('{\n  "name": "x",\n}', 3, 1, "trailing comma"),
        ("{'name': 'x'}", 1, 2, "double quotes"),
        ('{"name": "x" "description": "y"}', 1, 14, "comma"),
        ('{"name": tru}', 1, 10, "lower case"),
        ('{"name": "x"} {}', 1, 15, "one JSON value"),
    ],
)
async def test_a_json_body_error_says_what_and_where(
    world: World, body: str, line: int, column: int, hint: str
) -> None:
    resp = await world.api.patch(
        "/api/models/1/rename", content=body, headers={"Content-Type": "application/json"}
    )
    assert resp.status_code == 422, resp.text
    error = resp.json()
    assert error["code"] == "validation_error"
    detail = error["detail"]
    assert detail.startswith("request body is not valid JSON: ")
    assert f"line {line}, column {column}" in detail
    assert hint in detail
    assert "JSON decode error" not in detail
    assert error["errors"][0]["type"] == "json_invalid"


async def test_an_upload_error_names_the_uploaded_file(world: World) -> None:
    meta = {
        "name": "uploaded",
        "model_type": "random_forest",
        "target_variable": "price_close",
        "target_operator": ">",
        "target_value": 1,
        "features": ["price_close"],
    }
    for content in (b"\x80\x04" + bytes(range(256)) * 4, b"not a model"):
        resp = await world.api.post(
            "/api/models/upload",
            data={"metadata": json.dumps(meta)},
            files={"file": ("my_forest.joblib", content, "application/octet-stream")},
        )
        assert resp.status_code == 422, resp.text
        detail = resp.json()["detail"]
        assert "'my_forest.joblib'" in detail, detail
        assert ".incoming-" not in detail and ".part" not in detail, detail


async def test_readme_lists_every_table_of_ours(world: World) -> None:
    rows = await world.pool.fetch(  # tables, not their partitions (docs/retention.md)
        "SELECT relname AS tablename FROM pg_class WHERE relnamespace = 'public'::regnamespace "
        "AND relkind IN ('r', 'p') AND NOT relispartition AND relname LIKE 'prediction\\_%'"
    )
    ours = {r["tablename"] for r in rows} | {"predictions"}
    text = README.read_text(encoding="utf-8")
    sentence = re.search(r"The service creates only its own tables \((.*?)\)", text, re.S)
    assert sentence, "README: the sentence listing the service's own tables is gone"
    listed = set(re.findall(r"`(\w+)`", sentence.group(1)))
    assert listed == ours
