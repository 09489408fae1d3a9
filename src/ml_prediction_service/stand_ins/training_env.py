"""Throw-away virtualenvs with pinned library versions (the training service's set).

The training service pins its libraries (contract §4); its model files are pickles made by
those versions. ``ensure_env(PINNED)`` builds a virtualenv with exactly that set (or reuses
one already built) and returns its interpreter, so tests and ``scripts/`` can run
``stand_ins/training_side.py`` under the training service's versions.

* **Idempotent:** a marker file (``training-env.json`` in the env) records the requirements,
  the base interpreter and the versions actually installed. It is written last, so an env
  without it (a build that failed or was killed) is never reused: it is removed and rebuilt.
  Reusing a matching env reads one small file.
* **Safe with concurrent callers:** builds hold an exclusive ``fcntl`` lock on
  ``<root>/<slug>.lock``; a second caller waits, then finds the finished env.
* **Location:** ``$XDG_CACHE_HOME/ml-prediction-service/training-envs/<slug>`` (or
  ``~/.cache/...``), or ``root``. A build needs the package index pip is configured with,
  about 45 s and 800 MB.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

PINNED: tuple[str, ...] = (
    "scikit-learn==1.3.2",
    "xgboost==2.0.2",
    "numpy==1.26.2",
    "pandas==2.1.3",
    "joblib==1.3.2",
    "scipy<1.13",
)
"""The training service's libraries (contract §4); ``scipy<1.13`` makes them install."""

MARKER = "training-env.json"
PIP_TIMEOUT_SECONDS = 1200.0
_NETWORK_HINTS = (
    "Could not find a version",
    "No matching distribution",
    "Failed to establish a new connection",
    "Network is unreachable",
    "Temporary failure in name resolution",
    "Max retries exceeded",
)


class TrainingEnvError(RuntimeError):
    """The env could not be built (message for people, with pip's last lines)."""


def default_root() -> Path:
    """``$XDG_CACHE_HOME/ml-prediction-service/training-envs`` (``~/.cache`` without it)."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "ml-prediction-service" / "training-envs"


def env_slug(requirements: Sequence[str], no_deps: Sequence[str] = ()) -> str:
    """A folder name for this requirement set on this interpreter (stable, readable)."""
    key = json.dumps([list(requirements), list(no_deps), _base_python()])
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return f"py{sys.version_info.major}{sys.version_info.minor}-{digest}"


def _base_python() -> str:
    return os.path.realpath(sys.executable)


def _python_in(env: Path) -> Path:
    return env / "bin" / "python"


def _wanted(requirements: Sequence[str], no_deps: Sequence[str]) -> dict[str, object]:
    return {
        "requirements": list(requirements),
        "no_deps": list(no_deps),
        "base_python": _base_python(),
    }


def read_marker(env: Path) -> dict[str, object] | None:
    """The marker of a finished env, or None (missing or unreadable)."""
    try:
        data = json.loads((env / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _is_good(env: Path, wanted: dict[str, object]) -> bool:
    marker = read_marker(env)
    if marker is None or not _python_in(env).exists():
        return False
    return all(marker.get(k) == v for k, v in wanted.items())


def _tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _run(args: list[str], what: str, timeout: float) -> str:
    try:
        done = subprocess.run(
            args, capture_output=True, text=True, timeout=timeout, check=False, stdin=None
        )
    except subprocess.TimeoutExpired as exc:
        raise TrainingEnvError(f"{what} did not finish within {timeout:.0f} s") from exc
    except OSError as exc:
        raise TrainingEnvError(f"{what} could not start: {exc}") from exc
    output = (done.stdout or "") + (done.stderr or "")
    if done.returncode != 0:
        hint = ""
        if any(h in output for h in _NETWORK_HINTS):
            hint = (
                "\n(the package index configured for pip could not provide these packages: "
                "no network, or no wheel for this Python?)"
            )
        raise TrainingEnvError(
            f"{what} failed (exit {done.returncode}):\n{_tail(output)}{hint}"
        ) from None
    return output


_VERSIONS_SCRIPT = (
    "import importlib.metadata as m, json, sys;"
    "d = {x.metadata['Name'].lower(): x.version for x in m.distributions()};"
    "d['python'] = '.'.join(map(str, sys.version_info[:3]));"
    "print(json.dumps(d, sort_keys=True))"
)


def installed_versions(python: Path) -> dict[str, str]:
    """Every distribution installed for ``python`` (lower-case names), plus ``python``."""
    out = _run([str(python), "-c", _VERSIONS_SCRIPT], "listing installed packages", 120.0)
    data = json.loads(out.strip().splitlines()[-1])
    return {str(k): str(v) for k, v in data.items()}


def _build(env: Path, requirements: Sequence[str], no_deps: Sequence[str]) -> dict[str, str]:
    _run([sys.executable, "-m", "venv", str(env)], "creating the virtualenv", 300.0)
    pip = [str(_python_in(env)), "-m", "pip", "install", "--no-input", "--only-binary=:all:"]
    if requirements:
        _run([*pip, *requirements], f"pip install {' '.join(requirements)}", PIP_TIMEOUT_SECONDS)
    if no_deps:
        _run(
            [*pip, "--no-deps", *no_deps],
            f"pip install --no-deps {' '.join(no_deps)}",
            PIP_TIMEOUT_SECONDS,
        )
    versions = installed_versions(_python_in(env))
    for req in (*requirements, *no_deps):
        name, sep, version = req.partition("==")
        got = versions.get(name.strip().lower())
        if sep and got != version.strip():
            raise TrainingEnvError(f"{req} was asked for but {name} {got} is installed")
    return versions


def ensure_env(
    requirements: Sequence[str] = PINNED,
    *,
    no_deps: Sequence[str] = (),
    root: Path | None = None,
    slug: str | None = None,
) -> Path:
    """The interpreter of a virtualenv with ``requirements`` installed (built if needed).

    ``no_deps`` are installed afterwards with ``pip install --no-deps`` (for a wheel whose
    declared dependencies are not needed, e.g. xgboost's CUDA NCCL; list its real
    dependencies in ``requirements``). Raises :class:`TrainingEnvError` when the build fails;
    the half-built env is removed.
    """
    base = root if root is not None else default_root()
    env = base / (slug or env_slug(requirements, no_deps))
    wanted = _wanted(requirements, no_deps)
    if _is_good(env, wanted):
        return _python_in(env)
    base.mkdir(parents=True, exist_ok=True)
    with open(base / f"{env.name}.lock", "a+b") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)  # released when the file is closed
        if _is_good(env, wanted):  # another process built it while we waited
            return _python_in(env)
        shutil.rmtree(env, ignore_errors=True)  # unmarked or different: never reused
        try:
            versions = _build(env, requirements, no_deps)
        except BaseException:
            shutil.rmtree(env, ignore_errors=True)
            raise
        marker = {**wanted, "installed": versions}
        tmp = env / (MARKER + ".tmp")
        tmp.write_text(json.dumps(marker, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, env / MARKER)
    return _python_in(env)


def env_versions(python: Path) -> dict[str, str]:
    """The installed versions recorded in the marker of the env that owns ``python``."""
    marker = read_marker(python.parent.parent)
    installed = marker.get("installed") if marker else None
    if not isinstance(installed, dict):
        raise TrainingEnvError(f"{python} is not an interpreter of a finished training env")
    return {str(k): str(v) for k, v in installed.items()}


if __name__ == "__main__":  # python -m ml_prediction_service.stand_ins.training_env
    print(ensure_env())
