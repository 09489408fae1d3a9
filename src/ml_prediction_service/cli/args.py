"""argparse value types shared by every subcommand (counts, durations, rates, ports), and
the flags every command that simulates coins shares."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, TypeAlias


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


SIMULATION_FLAGS: dict[str, Callable[[str], Any]] = {
    "coins": positive_int,
    "duration": positive_float,
    "speed": positive_float,
    "rate": non_negative_float,
    "seed": int,
}
"""The flags of the commands that simulate coins, with their one type in every command."""


def add_simulation_arguments(parser: argparse.ArgumentParser, **flags: tuple[Any, str]) -> None:
    """Add ``--<name>`` for each ``name=(default, help)`` (names of ``SIMULATION_FLAGS``), in
    the order given: the default and the help text are the command's, the type is shared."""
    for name, (default, text) in flags.items():
        parser.add_argument(f"--{name}", type=SIMULATION_FLAGS[name], default=default, help=text)


Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
"""What every command group's ``register`` adds its subcommands to."""
