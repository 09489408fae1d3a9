"""Writes to the collector's tables, as the collector stand-in (``stand_ins/collector.py``)
makes them: ``coin_metrics`` rows in bulk; and which of the stand-in's coins exist already.

The service itself never writes these tables. Column names come from the caller's fixed
list of ``coin_metrics`` columns (the simulator's), never from data.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from ml_prediction_service.db.pool import Executor

KNOWN_MINTS = "SELECT DISTINCT mint FROM coin_metrics WHERE mint = ANY($1::text[])"


def _array_type(column: str, bool_columns: Collection[str], int_columns: Collection[str]) -> str:
    if column in bool_columns:
        return "bool[]"
    if column in int_columns:
        return "int4[]"
    return "float8[]"


def insert_statement(
    columns: Sequence[str], *, bool_columns: Collection[str], int_columns: Collection[str]
) -> str:
    """ONE statement that inserts a whole block of ``coin_metrics`` rows, so that a
    statement-level trigger fires once per block: ``INSERT … SELECT FROM unnest(…)``.

    Parameters: ``$1`` mints (text[]), ``$2`` timestamps as epoch seconds (float8[]), then
    one array per column of ``columns``, in that order (bool[] for ``bool_columns``, int4[]
    for ``int_columns``, float8[] for the others).
    """
    names = ", ".join(columns)
    params = ", ".join(
        f"${i}::{_array_type(c, bool_columns, int_columns)}" for i, c in enumerate(columns, start=3)
    )
    aliases = ", ".join(f"u_{c}" for c in columns)
    return (
        f'INSERT INTO coin_metrics (mint, "timestamp", {names}) '
        f"SELECT u_mint, to_timestamp(u_epoch), {aliases} "
        f"FROM unnest($1::text[], $2::float8[], {params}) "
        f"AS u(u_mint, u_epoch, {aliases})"
    )


async def known_mints(conn: Executor, mints: Sequence[str]) -> set[str]:
    """Those of ``mints`` that have ``coin_metrics`` rows (``conn``: connection or pool)."""
    rows = await conn.fetch(KNOWN_MINTS, list(mints))
    return {str(r["mint"]) for r in rows}
