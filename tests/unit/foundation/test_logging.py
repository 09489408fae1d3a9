from __future__ import annotations

import json
import logging

from ml_prediction_service.observability.logging import StructuredFormatter, request_id_var


def _record(msg: str, **extra: object) -> logging.LogRecord:
    logger = logging.getLogger("t")
    return logger.makeRecord("t", logging.WARNING, __file__, 1, msg, (), None, extra=extra)


def test_json_line_has_request_id_and_extra_fields() -> None:
    token = request_id_var.set("abc123")
    try:
        line = StructuredFormatter(use_json=True).format(_record("hello", coin_id="C1"))
    finally:
        request_id_var.reset(token)
    data = json.loads(line)
    assert data["message"] == "hello"
    assert data["level"] == "WARNING"
    assert data["request_id"] == "abc123"
    assert data["coin_id"] == "C1"
    assert "\n" not in line


def test_text_line_without_request_id() -> None:
    line = StructuredFormatter().format(_record("plain"))
    assert line.endswith("plain")
    assert "[WARNING]" in line
    assert "req=" not in line


def test_json_indent() -> None:
    line = StructuredFormatter(use_json=True, json_indent=2).format(_record("x"))
    assert "\n  " in line


def test_colour_escapes_never_reach_the_log() -> None:
    # uvicorn passes a coloured copy of its message as the extra field color_message
    message = "Uvicorn running on \x1b[1mhttp://127.0.0.1:1\x1b[0m"
    record = _record(message, color_message="\x1b[36mx")
    for use_json in (False, True):
        line = StructuredFormatter(use_json=use_json).format(record)
        assert "\x1b" not in line and "\\u001b" not in line and "color_message" not in line
        assert "Uvicorn running on http://127.0.0.1:1" in line
