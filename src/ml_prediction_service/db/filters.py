"""WHERE clauses for list queries: fixed column names, values as parameters."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from typing import Any


def where_clause(conditions: Iterable[tuple[str, str, Any]]) -> tuple[str, list[Any]]:
    """``(column, operator, value)`` triples → ``" WHERE a = $1 AND …"`` and its arguments.

    Conditions whose value is None are left out. Columns and operators come from our code,
    never from a request.
    """
    clauses: list[str] = []
    args: list[Any] = []
    for column, op, value in conditions:
        if value is not None:
            args.append(value)
            clauses.append(f"{column} {op} ${len(args)}")
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", args


def condition(column: str, op: str = "=") -> Any:
    """A field of a :class:`Filter`: None by default (no condition); when set, the rows
    where ``column op value``."""
    return field(default=None, metadata={"condition": (column, op)})


@dataclass(frozen=True)
class Filter:
    r"""A list query's filter: a frozen dataclass whose fields are :func:`condition`\ s."""

    def where(self) -> tuple[str, list[Any]]:
        """The WHERE clause of the fields that are set (in field order), and its arguments."""
        conditions = []
        for f in fields(self):
            column, op = f.metadata["condition"]
            conditions.append((column, op, getattr(self, f.name)))
        return where_clause(conditions)
