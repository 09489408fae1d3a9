"""Generated requests against the app's own OpenAPI schema (Schemathesis on Hypothesis): the
real service on a real database, two imported models, a local webhook receiver.

Valid and invalid requests for every operation (and, for ``/{active_model_id}`` operations,
also aimed at a real model): none may be answered with a 5xx, and every error must be JSON
with a message and a code. Webhook URLs in bodies are pointed at the local receiver, and an
audit hook proves nothing left 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from pydantic import AnyHttpUrl, TypeAdapter, ValidationError
from schemathesis import Case
from schemathesis.core.transport import Response
from schemathesis.generation import GenerationMode

from ml_prediction_service.demo.receiver import ReceiverStats
from tests.support.http import health_status
from tests.support.loopback import only_loopback
from tests.support.models import TrainedFile
from tests.support.webhooks import hooked_world, import_two

BUDGET_SECONDS = (
    40.0  # shared evenly: an operation's generation stops early once its share is spent
)
# The same examples on every run (a CI run must not fail on a request no run before tried);
# MPS_FUZZ_RANDOM=1 explores new ones, MPS_FUZZ_EXAMPLES=N raises the count
RANDOM = os.environ.get("MPS_FUZZ_RANDOM") == "1"
EXAMPLES_PER_OPERATION = int(os.environ.get("MPS_FUZZ_EXAMPLES", "10"))  # per generation mode
URL_KEYS = ("url", "webhook_url")
_HTTP_URL = TypeAdapter(AnyHttpUrl)

pytestmark = pytest.mark.slow


@dataclass
class Findings:
    base_url: str
    receiver_url: str
    api_key: str
    deadline: float = 0.0  # of the operation being fuzzed
    sent: int = 0
    problems: list[str] = field(default_factory=list)


def _problem(case: Case, resp: Response) -> str | None:
    """What is wrong with this answer, if anything."""
    status = resp.status_code
    try:
        body: Any = resp.json()
    except ValueError:
        body = None
    if status >= 500 and not _documented_degraded(case, status, body):
        return f"{status}: {resp.text[:300]}"
    if status >= 400:
        content_type = next(
            (v[0] for k, v in resp.headers.items() if k.lower() == "content-type"), ""
        )
        if not content_type.startswith("application/json"):
            return f"{status} is not JSON ({content_type}): {resp.text[:200]}"
        if not (isinstance(body, dict) and isinstance(body.get("code"), str)):
            return f"{status} without a code: {resp.text[:200]}"
        if not (isinstance(body.get("detail"), str) and body["detail"].strip()):
            return f"{status} without a message: {resp.text[:200]}"
    return None


def _documented_degraded(case: Case, status: int, body: Any) -> bool:
    """``/health`` answers 503 while the service is degraded: documented, not a crash."""
    return (
        status == 503
        and case.operation.path in ("/health", "/api/health")
        and isinstance(body, dict)
        and body.get("status") == "degraded"
    )


def _local_urls(case: Case, receiver_url: str) -> None:
    """A valid generated webhook URL would send requests to whatever host it names: it is
    replaced by the local receiver's (invalid ones stay, to be refused)."""
    if isinstance(case.body, dict):
        for key in URL_KEYS:
            value = case.body.get(key)
            if isinstance(value, str) and _is_http_url(value):
                case.body[key] = receiver_url


def _is_http_url(value: str) -> bool:
    try:
        _HTTP_URL.validate_python(value)
    except ValidationError:
        return False
    return True


def _strategies(openapi: dict[str, Any], real_ids: list[int]) -> list[tuple[str, Any]]:
    schema = schemathesis.openapi.from_dict(openapi)
    out = []
    for result in schema.get_all_operations():
        op = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            out.append((f"{op.label} ({mode.value})", op.as_strategy(generation_mode=mode)))
        aims_at_model = any(p.name == "active_model_id" for p in op.path_parameters)
        if aims_at_model and op.method.upper() != "DELETE":
            real = st.sampled_from(real_ids).flatmap(
                lambda i, op=op: op.as_strategy(path_parameters={"active_model_id": i})
            )
            out.append((f"{op.label} (a real model)", real))
    return out


def _fuzz(findings: Findings, label: str, strategy: Any) -> None:
    session = requests.Session()
    session.trust_env = False  # no proxy from the environment: straight to 127.0.0.1

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        derandomize=not RANDOM,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: Case) -> None:
        if time.monotonic() > findings.deadline:
            return
        _local_urls(case, findings.receiver_url)
        resp = case.call(
            base_url=findings.base_url,
            session=session,
            headers={"X-API-Key": findings.api_key},
            timeout=30,
        )
        findings.sent += 1
        problem = _problem(case, resp)
        if problem is not None:
            findings.problems.append(f"{label}: {problem}\n    {case.as_curl_command()}")

    try:
        run()
    except Unsatisfiable:  # nothing to get wrong, e.g. invalid requests of GET /health
        pass
    finally:
        session.close()


async def test_generated_requests_get_no_5xx_and_json_errors(
    db_dsn: str,
    pool: asyncpg.Pool,
    training_url: str,
    tmp_path: Path,
    trained: dict[str, TrainedFile],
) -> None:
    receiver = ReceiverStats()
    async with hooked_world(db_dsn, pool, training_url, tmp_path, receiver) as world:
        models = await import_two(world, trained)
        healthy = await health_status(world.api, 200, 30)
        assert healthy.status_code == 200, healthy.text
        openapi = (await world.api.get("/openapi.json")).json()
        strategies = _strategies(openapi, [m["id"] for m in models])
        assert world.service.settings.n8n_webhook_url is not None
        findings = Findings(
            base_url=str(world.api.base_url).rstrip("/"),
            receiver_url=world.service.settings.n8n_webhook_url,
            api_key=world.api.headers["X-API-Key"],
        )
        with only_loopback() as outside:
            for label, strategy in strategies:
                findings.deadline = time.monotonic() + BUDGET_SECONDS / len(strategies)
                # in a thread: the servers under test run on this event loop
                await asyncio.to_thread(_fuzz, findings, label, strategy)
        assert not outside, f"requests left 127.0.0.1: {outside[:10]}"
    assert findings.sent >= len(strategies), f"only {findings.sent} requests were sent"
    assert not findings.problems, f"{len(findings.problems)} bad answers:\n" + "\n".join(
        findings.problems[:40]
    )
