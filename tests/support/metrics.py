"""coin_metrics rows for tests, written the way the collector writes them (one statement)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import numpy as np

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def coin_rows(
    mint: str,
    n: int,
    *,
    start: datetime = T0,
    step_seconds: float = 5.0,
    phase: int | None = 1,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """``n`` consistent rows of one coin (contract §1 meanings), oldest first."""
    rng = np.random.default_rng(seed)
    price = 3e-8 * np.exp(np.cumsum(rng.normal(0.01, 0.08, size=n)))
    rows = []
    for i in range(n):
        buy = float(rng.uniform(0.1, 5))
        sell = float(rng.uniform(0.1, 4))
        buys, sells = int(rng.integers(1, 40)), int(rng.integers(1, 30))
        wallets = int(rng.integers(1, buys + sells + 1))
        close = float(price[i])
        high = close * float(rng.uniform(1.0, 1.2))
        low = close * float(rng.uniform(0.8, 1.0))
        opn = float(rng.uniform(low, high))
        reserves = float(rng.uniform(1, 80))
        rows.append(
            {
                "mint": mint,
                "timestamp": (start + timedelta(seconds=step_seconds * i)).isoformat(),
                "phase_id_at_time": phase,
                "price_open": opn,
                "price_high": high,
                "price_low": low,
                "price_close": close,
                "market_cap_close": round(close * 1e9, 2),
                "bonding_curve_pct": round(reserves / 85 * 100, 4),
                "virtual_sol_reserves": round(reserves, 6),
                "is_koth": close * 1e9 > 30000,
                "volume_sol": round(buy + sell, 6),
                "buy_volume_sol": round(buy, 6),
                "sell_volume_sol": round(sell, 6),
                "num_buys": buys,
                "num_sells": sells,
                "unique_wallets": wallets,
                "num_micro_trades": int(rng.integers(0, 5)),
                "dev_sold_amount": float(rng.choice([0.0, 0.0, 0.0, 1.5])),
                "max_single_buy_sol": round(buy / 2, 6),
                "max_single_sell_sol": round(sell / 2, 6),
                "net_volume_sol": round(buy - sell, 6),
                "volatility_pct": round((high - low) / opn * 100, 4),
                "avg_trade_size_sol": round((buy + sell) / (buys + sells), 6),
                "whale_buy_volume_sol": round(buy if buy >= 1 else 0.0, 6),
                "whale_sell_volume_sol": round(sell if sell >= 1 else 0.0, 6),
                "num_whale_buys": int(buy >= 1),
                "num_whale_sells": int(sell >= 1),
                "buy_pressure_ratio": round(buy / (buy + sell), 6),
                "unique_signer_ratio": round(wallets / (buys + sells), 6),
            }
        )
    return rows


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


async def insert_metrics(
    conn: asyncpg.Connection | asyncpg.Pool, rows: list[dict[str, Any]]
) -> None:
    """One INSERT statement for all rows (so a statement-level trigger fires once)."""
    clean = [{k: _jsonable(v) for k, v in row.items()} for row in rows]
    await conn.execute(
        "INSERT INTO coin_metrics "
        "SELECT * FROM json_populate_recordset(NULL::coin_metrics, $1::json)",
        clean,
    )


def newest(rows: list[dict[str, Any]]) -> datetime:
    """The newest timestamp among ``rows``."""
    return max(datetime.fromisoformat(r["timestamp"]) for r in rows)
