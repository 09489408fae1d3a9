"""WHERE clauses for list queries: fixed column names, values as parameters."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from typing import Any

from ml_prediction_service.db.pool import Executor


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


async def fetch_page(
    conn: Executor,
    flt: Filter,
    *,
    columns: str,
    source: str,
    count_source: str,
    order_by: str,
    limit: int,
    offset: int,
) -> tuple[list[dict[str, Any]], int]:
    """One page of a filtered list, and how many rows the filter matches in all.

    ``SELECT columns FROM source WHERE … ORDER BY order_by LIMIT … OFFSET …``; the total is
    counted over ``count_source`` (the same rows without the joins the page needs). All
    four are fixed SQL text of the caller, never from a request.
    """
    where, args = flt.where()
    total = await conn.fetchval(f"SELECT count(*) FROM {count_source}{where}", *args)
    rows = await conn.fetch(
        f"SELECT {columns} FROM {source}{where} ORDER BY {order_by} "
        f"LIMIT ${len(args) + 1} OFFSET ${len(args) + 2}",
        *args,
        limit,
        offset,
    )
    return [dict(r) for r in rows], int(total)
