"""Fixtures of the acceptance tests that run the benchmarks."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A benchmark's TMPDIR: outside pytest's basetemp, whose permissions another pytest
    session starting meanwhile resets (the embedded server's own user then cannot stop it)."""
    folder = Path(tempfile.mkdtemp(prefix="mps-test-bench-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)
