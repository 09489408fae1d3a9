"""WHERE clauses for list queries: fixed column names, values as parameters."""

from __future__ import annotations

from collections.abc import Iterable
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
