"""Load SQL files shipped inside the package, by name."""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def load_sql(name: str) -> str:
    """Text of ``db/sql/<name>`` (e.g. ``"coin_metrics_trigger.sql"``,
    ``"stand_ins/external_schema.sql"``: folders separated by ``/``)."""
    folder = resources.files("ml_prediction_service.db").joinpath("sql")
    return folder.joinpath(*name.split("/")).read_text("utf-8")


def migration_files() -> list[tuple[int, str, str]]:
    """``(version, name, sql)`` of every migration, in version order."""
    folder = resources.files("ml_prediction_service.db").joinpath("sql", "migrations")
    found = []
    for entry in folder.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        version_text, _, _ = entry.name.partition("_")
        found.append((int(version_text), entry.name[:-4], entry.read_text("utf-8")))
    found.sort()
    versions = [v for v, _, _ in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate migration versions: {versions}")
    return found
