"""A database error of bench or soak, which run their own scratch database, is not explained
with advice about DB_DSN / DATA_DIR (they never used those)."""

from __future__ import annotations

import pytest

from ml_prediction_service.cli import build_parser
from ml_prediction_service.cli.main import own_database_failure


@pytest.mark.parametrize(("command", "own"), [("bench", True), ("soak", True), ("serve", False)])
def test_the_commands_with_their_own_database_say_so(command: str, own: bool) -> None:
    args = build_parser().parse_args([command])
    assert getattr(args, "own_database", False) is own


def test_their_database_error_names_the_scratch_database_not_the_settings() -> None:
    message = own_database_failure(ConnectionRefusedError(111, "Connection refused"))
    assert "scratch database" in message
    assert "ConnectionRefusedError" in message and "Connection refused" in message
    assert "does not use DB_DSN or DATA_DIR" in message
    assert "pgdata" not in message
