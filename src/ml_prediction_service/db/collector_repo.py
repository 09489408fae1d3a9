"""Writes to the collector's tables, as the collector stand-in (``stand_ins/collector.py``)
makes them: ``coin_metrics`` rows in bulk; and which of the stand-in's coins exist already.

The service itself never writes these tables. Column names come from the caller's fixed
list of ``coin_metrics`` columns (the simulator's), never from data.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

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


# For bench/many_coins.py: one block of coins' rows at one timestamp, straight from SQL (the
# simulator is too slow for 100,000 coins). Coin g is 'MANY' + its number; the values are
# plausible for a young pump.fun coin and differ per coin and round ($4).
INSERT_BLOCK = """
INSERT INTO coin_metrics (
    mint, "timestamp", phase_id_at_time, price_open, price_high, price_low, price_close,
    market_cap_close, bonding_curve_pct, virtual_sol_reserves, is_koth, volume_sol,
    buy_volume_sol, sell_volume_sol, num_buys, num_sells, unique_wallets, num_micro_trades,
    dev_sold_amount, max_single_buy_sol, max_single_sell_sol, net_volume_sol, volatility_pct,
    avg_trade_size_sol, whale_buy_volume_sol, whale_sell_volume_sol, num_whale_buys,
    num_whale_sells, buy_pressure_ratio, unique_signer_ratio)
SELECT 'MANY' || lpad(g::text, 7, '0'), $3::timestamptz, 1,
       p * 0.99, p * 1.02, p * 0.97, p, p * 1e9, 5 + (g % 90), 30 + (g % 50), false,
       v, v * 0.6, v * 0.4, 3 + g % 20, 2 + g % 15, 4 + g % 30, g % 5, 0,
       v * 0.2, v * 0.1, v * 0.2, 1 + (g % 40) / 4.0, v / 10, v * 0.1, v * 0.05, g % 3, g % 2,
       0.6, 0.8
  FROM generate_series($1::int, $2::int) AS g,
       LATERAL (SELECT 2.8e-8 * (1 + (g % 97) / 100.0) * (1 + $4::int / 50.0) AS p,
                       0.5 + (g % 13) AS v) x
"""


async def insert_generated_block(
    conn: Executor, first: int, last: int, at: datetime, round_no: int
) -> None:
    """One row at ``at`` for each of the coins ``first`` … ``last`` (one statement)."""
    await conn.execute(INSERT_BLOCK, first, last, at, round_no)
