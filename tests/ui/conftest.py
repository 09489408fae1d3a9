"""Fixtures of the UI tests: one running system (API with data) for the whole session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.models import TrainedFile
from tests.support.pg import PgTestServer
from tests.support.ui_world import UiWorld, ui_world


@pytest.fixture(scope="session")
def world_ui(
    pg_server: PgTestServer,
    trained: dict[str, TrainedFile],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[UiWorld]:
    with ui_world(pg_server, trained, tmp_path_factory.mktemp("ui-world")) as world:
        yield world


@pytest.fixture
def ui_env(world_ui: UiWorld, monkeypatch: pytest.MonkeyPatch) -> UiWorld:
    """The UI (in this process, for AppTest) pointed at the world's API with its key."""
    for key, value in world_ui.env().items():
        monkeypatch.setenv(key, value)
    return world_ui
