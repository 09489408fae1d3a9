"""Tests that need a program this machine lacks are skipped with :func:`needs`, and the run
ends with one loud line per missing program: how many tests it skipped and the one command
that enables them (so a green run on a fresh machine does not quietly check less than CI).

Registered for the whole suite in ``tests/conftest.py`` (``pytest_plugins``).
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

ENABLE = "; enable them with: "


def find_program(*names: str) -> Path | None:
    """The first of ``names`` found on ``PATH``, or None."""
    for name in names:
        found = shutil.which(name)
        if found:
            return Path(found)
    return None


def needs(program: str, found: object, command: str) -> pytest.MarkDecorator:
    """Skip unless ``found``; the reason names ``program`` and the ``command`` that installs
    it, and the terminal summary repeats both."""
    return pytest.mark.skipif(not found, reason=f"{program} not found{ENABLE}{command}")


def _reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    text = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return text.removeprefix("Skipped: ")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> Iterator[None]:
    """After everything else of the summary (the ``-ra`` list included): the last lines
    before the final counts."""
    yield
    reasons = Counter(
        _reason(report)
        for report in terminalreporter.stats.get("skipped", [])
        if ENABLE in _reason(report)
    )
    for reason, count in sorted(reasons.items()):
        tests = "test" if count == 1 else "tests"
        terminalreporter.write_line(f"!!! {count} {tests} SKIPPED: {reason}", red=True, bold=True)
