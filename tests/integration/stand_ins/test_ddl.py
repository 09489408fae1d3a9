"""The stand-in DDL matches contract §1-3, read back from information_schema."""

from __future__ import annotations

import asyncio

import asyncpg

from ml_prediction_service.stand_ins.ddl import PHASES, create_dev_schema, missing_tables

N = "numeric"
INT = "integer"
V = "character varying"
TZ = "timestamp with time zone"

# contract §1, written out independently of the DDL: (type, length/precision, scale).
COIN_METRICS = {
    "mint": (V, 64, None),
    "timestamp": (TZ, None, None),
    "phase_id_at_time": (INT, None, None),
    "price_open": (N, 30, 18),
    "price_high": (N, 30, 18),
    "price_low": (N, 30, 18),
    "price_close": (N, 30, 18),
    "market_cap_close": (N, 20, 2),
    "bonding_curve_pct": (N, 10, 4),
    "virtual_sol_reserves": (N, 20, 6),
    "is_koth": ("boolean", None, None),
    "volume_sol": (N, 20, 6),
    "buy_volume_sol": (N, 20, 6),
    "sell_volume_sol": (N, 20, 6),
    "num_buys": (INT, None, None),
    "num_sells": (INT, None, None),
    "unique_wallets": (INT, None, None),
    "num_micro_trades": (INT, None, None),
    "dev_sold_amount": (N, 20, 6),
    "max_single_buy_sol": (N, 20, 6),
    "max_single_sell_sol": (N, 20, 6),
    "net_volume_sol": (N, 20, 6),
    "volatility_pct": (N, 10, 4),
    "avg_trade_size_sol": (N, 20, 6),
    "whale_buy_volume_sol": (N, 20, 6),
    "whale_sell_volume_sol": (N, 20, 6),
    "num_whale_buys": (INT, None, None),
    "num_whale_sells": (INT, None, None),
    "buy_pressure_ratio": (N, 10, 6),
    "unique_signer_ratio": (N, 10, 6),
}
COIN_METRICS_DEFAULTS = {
    "timestamp": "now()",
    "is_koth": "false",
    "num_buys": "0",
    "num_sells": "0",
    "unique_wallets": "0",
    "num_micro_trades": "0",
    "dev_sold_amount": "0",
    "num_whale_buys": "0",
    "num_whale_sells": "0",
}
REF_COIN_PHASES = {
    "id": (INT, None, None),
    "name": (V, 50, None),
    "interval_seconds": (INT, None, None),
    "min_age_minutes": (INT, None, None),
    "max_age_minutes": (INT, None, None),
}
METRIC_5_4 = (N, 5, 4)
ML_MODELS_TYPED = {
    "id": ("bigint", None, None),
    "name": (V, 255, None),
    "is_deleted": ("boolean", None, None),
    "target_variable": (V, 100, None),
    "target_value": (N, 20, 2),
    "future_minutes": (INT, None, None),
    "price_change_percent": (N, 10, 4),
    "features": ("jsonb", None, None),
    "phases": ("jsonb", None, None),
    "params": ("jsonb", None, None),
    "feature_importance": ("jsonb", None, None),
    "confusion_matrix": ("jsonb", None, None),
    "cv_scores": ("jsonb", None, None),
    "model_file_path": ("text", None, None),
    **{
        m: METRIC_5_4
        for m in (
            "training_accuracy",
            "training_f1",
            "training_precision",
            "training_recall",
            "roc_auc",
            "mcc",
            "fpr",
            "fnr",
        )
    },
}
ML_MODELS_OTHER = {
    "model_type",
    "status",
    "description",
    "created_at",
    "updated_at",
    "deleted_at",
    "target_operator",
    "train_start",
    "train_end",
    "target_direction",
    "simulated_profit_pct",
}


async def _columns(conn: asyncpg.Connection, table: str) -> dict[str, asyncpg.Record]:
    rows = await conn.fetch(
        """
        SELECT column_name, data_type, character_maximum_length, numeric_precision,
               numeric_scale, is_nullable, column_default
          FROM information_schema.columns
         WHERE table_schema = current_schema() AND table_name = $1
         ORDER BY ordinal_position
        """,
        table,
    )
    return {r["column_name"]: r for r in rows}


def _typed(row: asyncpg.Record) -> tuple[str, int | None, int | None]:
    size = row["character_maximum_length"]
    if row["data_type"] == "numeric":
        size = row["numeric_precision"]
    scale = row["numeric_scale"] if row["data_type"] == "numeric" else None
    return (row["data_type"], size, scale)


async def test_coin_metrics_matches_the_contract(db_dsn: str) -> None:
    conn = await asyncpg.connect(db_dsn)
    try:
        assert await missing_tables(conn) == ["coin_metrics", "ref_coin_phases", "ml_models"]
        created = await create_dev_schema(conn)
        assert created == ["coin_metrics", "ref_coin_phases", "ml_models"]
        cols = await _columns(conn, "coin_metrics")
        assert list(cols) == list(COIN_METRICS)  # names, order, no id column
        assert {c: _typed(r) for c, r in cols.items()} == COIN_METRICS
        assert {c for c, r in cols.items() if r["is_nullable"] == "NO"} == {"mint", "timestamp"}
        defaults = {c: r["column_default"] for c, r in cols.items() if r["column_default"]}
        assert defaults == COIN_METRICS_DEFAULTS
        indexes = await conn.fetch(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'coin_metrics'"
        )
        keys = sorted(r["indexdef"].split(" USING btree ")[1] for r in indexes)
        assert keys == sorted(
            ['(mint, "timestamp" DESC)', '("timestamp" DESC)', "(phase_id_at_time)", "(mint)"]
        )
    finally:
        await conn.close()


async def test_ref_coin_phases_and_seed_rows(db_dsn: str) -> None:
    conn = await asyncpg.connect(db_dsn)
    try:
        await create_dev_schema(conn)
        cols = await _columns(conn, "ref_coin_phases")
        assert {c: _typed(r) for c, r in cols.items()} == REF_COIN_PHASES
        pk = await conn.fetchval(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a "
            "ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
            "WHERE i.indrelid = 'ref_coin_phases'::regclass AND i.indisprimary"
        )
        assert pk == "id"
        rows = await conn.fetch("SELECT * FROM ref_coin_phases ORDER BY id")
        expected = [
            (1, "Baby Zone", 5, 0, 10),
            (2, "Survival Zone", 30, 10, 60),
            (3, "Mature Zone", 60, 60, 1440),
            (99, "Finished", 0, 1440, 999999),
            (100, "Graduated", 0, 1440, 999999),
        ]
        assert [tuple(r) for r in rows] == expected
        assert [
            (p.id, p.name, p.interval_seconds, p.min_age_minutes, p.max_age_minutes) for p in PHASES
        ] == expected  # the simulator's copy agrees with the table
    finally:
        await conn.close()


async def test_ml_models_matches_the_contract(db_dsn: str) -> None:
    conn = await asyncpg.connect(db_dsn)
    try:
        await create_dev_schema(conn)
        cols = await _columns(conn, "ml_models")
        assert set(cols) == set(ML_MODELS_TYPED) | ML_MODELS_OTHER
        assert {c: _typed(cols[c]) for c in ML_MODELS_TYPED} == ML_MODELS_TYPED
        not_null = {c for c, r in cols.items() if r["is_nullable"] == "NO"}
        assert {"id", "name", "target_variable", "features"} <= not_null
        assert cols["target_operator"]["is_nullable"] == "YES"  # NULL for time-based
        unique = await conn.fetchval(
            "SELECT count(*) FROM pg_indexes WHERE tablename = 'ml_models' "
            "AND indexdef LIKE 'CREATE UNIQUE INDEX%(name)'"
        )
        assert unique == 1
    finally:
        await conn.close()


async def test_create_dev_schema_is_idempotent_and_concurrency_safe(db_dsn: str) -> None:
    conns = [await asyncpg.connect(db_dsn) for _ in range(3)]
    try:
        results = await asyncio.gather(*(create_dev_schema(c) for c in conns))
        assert sorted(len(r) for r in results) == [0, 0, 3]
        assert await create_dev_schema(conns[0]) == []
        assert await conns[0].fetchval("SELECT count(*) FROM ref_coin_phases") == 5
        assert await missing_tables(conns[0]) == []
    finally:
        for c in conns:
            await c.close()
