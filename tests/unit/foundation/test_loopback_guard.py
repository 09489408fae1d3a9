"""The fuzz test's proof that nothing left 127.0.0.1 sees what would have left.

0.0.0.0 is not a loopback name, yet reaches only this machine: the test itself sends nothing
out (a numeric lookup needs no DNS; the connect goes to a closed local port)."""

from __future__ import annotations

import contextlib
import socket

from tests.support.http import free_port
from tests.support.loopback import only_loopback


def _connect(port: int) -> None:
    with socket.socket() as sock, contextlib.suppress(OSError):
        sock.connect(("0.0.0.0", port))


def test_records_other_lookups_and_connects_but_not_loopback() -> None:
    port = free_port()
    with only_loopback() as seen:
        socket.getaddrinfo("127.0.0.1", port)
        socket.getaddrinfo("0.0.0.0", port)
        _connect(port)
    assert seen == ["getaddrinfo '0.0.0.0'", f"connect ('0.0.0.0', {port})"]
    _connect(port)  # outside the block: not recorded
    assert len(seen) == 2
