"""The suite enforces the project's one way to lint: ruff, ruff format, mypy (strict)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)


@pytest.mark.parametrize(
    "cmd",
    [
        ("ruff", "check", "src", "tests", "scripts"),
        ("ruff", "format", "--check", "src", "tests", "scripts"),
    ],
    ids=["ruff-check", "ruff-format"],
)
def test_ruff(cmd: tuple[str, ...]) -> None:
    if shutil.which("ruff") is None:
        pytest.fail("ruff not installed: pip install -e '.[dev]'")
    proc = _run(*cmd)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_strict() -> None:
    proc = _run(sys.executable, "-m", "mypy")
    assert proc.returncode == 0, proc.stdout + proc.stderr
