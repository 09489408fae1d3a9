"""argparse value types shared by every subcommand (counts, durations, rates, ports)."""

from __future__ import annotations

import argparse
from typing import TypeAlias


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def non_negative_float(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def tcp_port(text: str) -> int:
    """A TCP port, 0..65535 (0: any free port, or "the default" where a flag says so)."""
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"not a port: {text}")
    return value


Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
"""What every command group's ``register`` adds its subcommands to."""
