"""Read-only history of one coin from ``coin_metrics`` (the collector's table), for charts.

Column names are a fixed selection of ``features.BASE_COLUMNS`` (the contract's names);
nothing from a request is put into SQL text. NUMERIC values are converted to float8 in the
query (one conversion, at the boundary).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from ml_prediction_service.db.pool import Executor
from ml_prediction_service.errors import ServiceError
from ml_prediction_service.features import BASE_COLUMNS


def _base_columns(first: str, last: str) -> tuple[str, ...]:
    """``BASE_COLUMNS`` from ``first`` to ``last`` (both included), in table order."""
    return BASE_COLUMNS[BASE_COLUMNS.index(first) : BASE_COLUMNS.index(last) + 1]


# Columns served to clients, in this order: prices, market cap and bonding curve, then the
# volumes, as float8; then phase, trade counts and KOTH flag as stored.
FLOAT_COLUMNS: tuple[str, ...] = (
    *_base_columns("price_open", "bonding_curve_pct"),
    *_base_columns("volume_sol", "sell_volume_sol"),
)
OTHER_COLUMNS: tuple[str, ...] = ("phase_id_at_time", "num_buys", "num_sells", "is_koth")

_SELECT = ", ".join(
    ['"timestamp"', *(f'"{c}"::float8 AS "{c}"' for c in FLOAT_COLUMNS), *OTHER_COLUMNS]
)
_RANGE = """
 WHERE mint = $1
   AND ($2::timestamptz IS NULL OR "timestamp" >= $2)
   AND ($3::timestamptz IS NULL OR "timestamp" <= $3)
"""

# The newest ``limit`` rows of the range, returned oldest first (ready to plot).
COIN_METRICS = f"""
SELECT * FROM (
    SELECT {_SELECT} FROM coin_metrics {_RANGE}
     ORDER BY "timestamp" DESC
     LIMIT $4
) newest
ORDER BY "timestamp"
"""

COUNT_COIN_METRICS = f"SELECT count(*) FROM coin_metrics {_RANGE}"


async def coin_metrics(
    conn: Executor,
    coin_id: str,
    *,
    since: datetime | None,
    until: datetime | None,
    limit: int,
) -> tuple[list[dict[str, Any]], int]:
    """(rows oldest first, number of rows in the range); a 503 ServiceError when the
    collector's table does not exist yet."""
    try:
        rows = await conn.fetch(COIN_METRICS, coin_id, since, until, limit)
        total = await conn.fetchval(COUNT_COIN_METRICS, coin_id, since, until)
    except asyncpg.UndefinedTableError as exc:
        raise ServiceError(
            "table coin_metrics does not exist (the collector has not created it yet)",
            code="coin_metrics_missing",
            status=503,
        ) from exc
    return [dict(r) for r in rows], int(total)
