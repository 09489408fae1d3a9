"""argparse value types shared by every subcommand (counts, durations, rates, ports), and
the flags every command that simulates coins shares."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, TypeAlias, TypeVar

Number = TypeVar("Number", int, float)


def _checked(
    name: str, convert: Callable[[str], Number], refused: Callable[[Number], bool], rule: str
) -> Callable[[str], Number]:
    """An argparse type: ``convert`` the text, and refuse the value when it is ``refused``
    ("must be <rule>"). It is called ``name``: argparse names the type when ``convert`` fails."""

    def check(text: str) -> Number:
        value = convert(text)
        if refused(value):
            raise argparse.ArgumentTypeError(f"must be {rule}, got {text}")
        return value

    check.__name__ = check.__qualname__ = name
    return check


positive_int = _checked("positive_int", int, lambda v: v < 1, ">= 1")
positive_float = _checked("positive_float", float, lambda v: not v > 0, "> 0")
non_negative_float = _checked("non_negative_float", float, lambda v: v < 0, ">= 0")
non_negative_int = _checked("non_negative_int", int, lambda v: v < 0, ">= 0")


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


def add_typed_arguments(
    parser: argparse._ActionsContainer, **flags: tuple[Callable[[str], Any], Any, str]
) -> None:
    """Add ``--<name>`` (underscores written as dashes) for each ``name=(type, default,
    help)``, in the order given."""
    for name, (kind, default, text) in flags.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=kind, default=default, help=text)


def add_simulation_arguments(parser: argparse.ArgumentParser, **flags: tuple[Any, str]) -> None:
    """Add ``--<name>`` for each ``name=(default, help)`` (names of ``SIMULATION_FLAGS``), in
    the order given: the default and the help text are the command's, the type is shared."""
    add_typed_arguments(
        parser,
        **{
            name: (SIMULATION_FLAGS[name], default, text) for name, (default, text) in flags.items()
        },
    )


Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
"""What every command group's ``register`` adds its subcommands to."""
