"""On a machine without Chromium, the README's test command still ends with a loud line
naming the skipped browser tests and the one command that enables them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def test_the_run_ends_saying_which_tests_a_missing_browser_skipped(tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()  # a PATH on which no chromium can be found
    env = {**os.environ, "PATH": str(empty)}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/ui/test_browser.py",
            "-p",
            "no:cacheprovider",
            "--basetemp",
            str(tmp_path / "inner"),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = [line for line in proc.stdout.splitlines() if "SKIPPED: Chromium" in line]
    assert len(lines) == 1, proc.stdout
    assert lines[0].startswith("!!!") and " tests SKIPPED: " in lines[0]
    assert "enable them with: apt-get install -y chromium" in lines[0]
