"""Import and activate the demo models THROUGH the REST API, like a person would."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

# What the demo's models send to the webhook receiver when they are first imported:
# alerts only (what an n8n flow acts on); change it per model in the UI (Models page).
DEMO_SEND_MODE = ["alerts_only"]


class DemoSetupError(RuntimeError):
    """The API refused a step of the demo's set-up (message for people)."""


def _check(resp: httpx.Response, what: str) -> dict[str, Any]:
    if resp.is_success:
        body: dict[str, Any] = resp.json()
        return body
    try:
        detail = resp.json().get("detail", resp.text)
    except ValueError:
        detail = resp.text
    raise DemoSetupError(f"{what} failed: HTTP {resp.status_code}: {detail}")


async def import_and_activate(
    api: httpx.AsyncClient, wanted: dict[str, int], progress: Callable[[str], None]
) -> list[dict[str, Any]]:
    """Make every model of ``wanted`` (name → ml_models.id) imported and active."""
    available = _check(await api.get("/api/models/available"), "listing available models")
    by_id = {int(m["id"]): m for m in available["models"]}
    result = []
    for name, model_id in wanted.items():
        entry = by_id.get(model_id)
        if entry is None:
            raise DemoSetupError(f"model {name!r} (ml_models id {model_id}) is not available")
        if entry.get("already_imported"):
            active_id = int(entry["active_model_id"])
            model = _check(await api.get(f"/api/models/{active_id}"), f"reading {name!r}")
            if model["is_active"]:
                progress(f"model {model['name']!r}: already imported and active (id {active_id})")
            else:
                model = _check(
                    await api.post(f"/api/models/{active_id}/activate"), f"activating {name!r}"
                )
                progress(f"model {model['name']!r}: was inactive, activated (id {active_id})")
        else:
            progress(f"model {name!r}: importing through the API (download, verify, load) …")
            model = _check(
                await api.post("/api/models/import", json={"model_id": model_id}),
                f"importing {name!r}",
            )
            model = _check(
                await api.patch(
                    f"/api/models/{model['id']}/webhook", json={"send_mode": DEMO_SEND_MODE}
                ),
                f"webhook settings of {name!r}",
            )
            runtime = (model.get("runtime") or {}).get("runtime") or "loading"
            progress(f"model {name!r}: imported and active (id {model['id']}, {runtime})")
        result.append(model)
    return result
