-- STAND-IN DDL for tables owned by other systems (contract §1-3). Development, demo
-- and tests only: in production these tables belong to the upstream collector
-- (coin_metrics, ref_coin_phases) and to the training service (ml_models).
-- Idempotent: every statement can run again without effect.

-- §1 coin_metrics: one row per coin per sampling interval, no id column.
CREATE TABLE IF NOT EXISTS coin_metrics (
    mint VARCHAR(64) NOT NULL,
    "timestamp" TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    phase_id_at_time INTEGER,
    price_open NUMERIC(30, 18),
    price_high NUMERIC(30, 18),
    price_low NUMERIC(30, 18),
    price_close NUMERIC(30, 18),
    market_cap_close NUMERIC(20, 2),
    bonding_curve_pct NUMERIC(10, 4),
    virtual_sol_reserves NUMERIC(20, 6),
    is_koth BOOLEAN DEFAULT FALSE,
    volume_sol NUMERIC(20, 6),
    buy_volume_sol NUMERIC(20, 6),
    sell_volume_sol NUMERIC(20, 6),
    num_buys INTEGER DEFAULT 0,
    num_sells INTEGER DEFAULT 0,
    unique_wallets INTEGER DEFAULT 0,
    num_micro_trades INTEGER DEFAULT 0,
    dev_sold_amount NUMERIC(20, 6) DEFAULT 0,
    max_single_buy_sol NUMERIC(20, 6),
    max_single_sell_sol NUMERIC(20, 6),
    net_volume_sol NUMERIC(20, 6),
    volatility_pct NUMERIC(10, 4),
    avg_trade_size_sol NUMERIC(20, 6),
    whale_buy_volume_sol NUMERIC(20, 6),
    whale_sell_volume_sol NUMERIC(20, 6),
    num_whale_buys INTEGER DEFAULT 0,
    num_whale_sells INTEGER DEFAULT 0,
    buy_pressure_ratio NUMERIC(10, 6),
    unique_signer_ratio NUMERIC(10, 6)
);

CREATE INDEX IF NOT EXISTS idx_coin_metrics_mint_timestamp
    ON coin_metrics (mint, "timestamp" DESC);
CREATE INDEX IF NOT EXISTS idx_coin_metrics_timestamp
    ON coin_metrics ("timestamp" DESC);
CREATE INDEX IF NOT EXISTS idx_coin_metrics_phase
    ON coin_metrics (phase_id_at_time);
CREATE INDEX IF NOT EXISTS idx_coin_metrics_mint
    ON coin_metrics (mint);

-- §2 ref_coin_phases and the five rows of the collector generation this service targets.
CREATE TABLE IF NOT EXISTS ref_coin_phases (
    id INTEGER PRIMARY KEY,
    name VARCHAR(50),
    interval_seconds INTEGER,
    min_age_minutes INTEGER,
    max_age_minutes INTEGER
);

INSERT INTO ref_coin_phases (id, name, interval_seconds, min_age_minutes, max_age_minutes)
VALUES
    (1, 'Baby Zone', 5, 0, 10),
    (2, 'Survival Zone', 30, 10, 60),
    (3, 'Mature Zone', 60, 60, 1440),
    (99, 'Finished', 0, 1440, 999999),
    (100, 'Graduated', 0, 1440, 999999)
ON CONFLICT (id) DO NOTHING;

-- §3 ml_models: written by the training service. model_type is deliberately not
-- constrained: the upstream table may hold types this service does not support.
CREATE TABLE IF NOT EXISTS ml_models (
    id BIGSERIAL PRIMARY KEY,
    name VARCHAR(255) NOT NULL UNIQUE,
    model_type VARCHAR(50) NOT NULL,
    status VARCHAR(20) NOT NULL DEFAULT 'TRAINING'
        CONSTRAINT chk_ml_models_status CHECK (status IN ('TRAINING', 'READY', 'FAILED')),
    description TEXT,
    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),
    is_deleted BOOLEAN DEFAULT FALSE,
    deleted_at TIMESTAMPTZ,
    target_variable VARCHAR(100) NOT NULL,
    target_operator VARCHAR(10)
        CONSTRAINT chk_ml_models_operator
        CHECK (target_operator IS NULL OR target_operator IN ('>', '<', '>=', '<=', '=')),
    target_value NUMERIC(20, 2),
    train_start TIMESTAMPTZ,
    train_end TIMESTAMPTZ,
    future_minutes INTEGER,
    price_change_percent NUMERIC(10, 4),
    target_direction VARCHAR(10)
        CONSTRAINT chk_ml_models_direction
        CHECK (target_direction IS NULL OR target_direction IN ('up', 'down')),
    features JSONB NOT NULL,
    phases JSONB,
    params JSONB,
    feature_importance JSONB,
    training_accuracy NUMERIC(5, 4),
    training_f1 NUMERIC(5, 4),
    training_precision NUMERIC(5, 4),
    training_recall NUMERIC(5, 4),
    roc_auc NUMERIC(5, 4),
    mcc NUMERIC(5, 4),
    fpr NUMERIC(5, 4),
    fnr NUMERIC(5, 4),
    confusion_matrix JSONB,
    cv_scores JSONB,
    simulated_profit_pct NUMERIC(10, 4),
    model_file_path TEXT
);

CREATE INDEX IF NOT EXISTS idx_ml_models_status
    ON ml_models (status) WHERE is_deleted = FALSE;
