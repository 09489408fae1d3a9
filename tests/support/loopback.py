"""Proof that a test talks to nothing but this machine: while ``only_loopback()`` is open, a
process-wide audit hook records every TCP connect and every name lookup that is not for a
loopback address (from any thread: the service, its HTTP clients, the test's own)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
_recorders: list[list[str]] = []
_installed = False


def _host(value: Any) -> str | None:
    if isinstance(value, bytes):
        return value.decode("ascii", "replace")
    return value if isinstance(value, str) else None


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if not _recorders:
        return
    if event == "socket.connect" and isinstance(args[1], tuple):
        host = _host(args[1][0])
        what = f"connect {args[1]!r}"
    elif event == "socket.getaddrinfo":
        host = _host(args[0])
        what = f"getaddrinfo {args[0]!r}"
    else:
        return
    if host is not None and host not in LOOPBACK_HOSTS:
        for recorder in _recorders:
            recorder.append(what)


@contextmanager
def only_loopback() -> Iterator[list[str]]:
    """Yield the list of non-loopback connects and lookups made while the block runs."""
    global _installed
    if not _installed:  # audit hooks cannot be removed: one for the whole run, idle outside
        sys.addaudithook(_audit)
        _installed = True
    seen: list[str] = []
    _recorders.append(seen)
    try:
        yield seen
    finally:
        _recorders.remove(seen)
