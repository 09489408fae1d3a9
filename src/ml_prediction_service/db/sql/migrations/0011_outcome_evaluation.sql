-- Did the alert come true? Outcome evaluation, replay and reasons (docs/evaluation.md).

-- Due work, written in the same statement as the predictions (db/predictions_repo.py): one
-- row per (coin, data timestamp, horizon) among new predictions of models with a horizon
-- (future_minutes). ~1 row per event instead of one per prediction. The evaluator claims
-- rows whose check_at has come (FOR UPDATE SKIP LOCKED), evaluates every prediction of that
-- coin and timestamp whose model has that horizon, and deletes the row in the same
-- transaction; a coin without rows past the horizon yet is checked again later (check_at).
CREATE TABLE IF NOT EXISTS prediction_evaluation_due (
    coin_id VARCHAR(255) NOT NULL,
    data_timestamp TIMESTAMP WITH TIME ZONE NOT NULL,
    future_minutes INTEGER NOT NULL CONSTRAINT chk_due_minutes CHECK (future_minutes > 0),
    horizon_at TIMESTAMP WITH TIME ZONE NOT NULL,   -- data_timestamp + future_minutes
    check_at TIMESTAMP WITH TIME ZONE NOT NULL,     -- not before horizon_at + settle time
    checks INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (coin_id, data_timestamp, future_minutes)
);
CREATE INDEX IF NOT EXISTS idx_evaluation_due_check ON prediction_evaluation_due (check_at);

-- One row per evaluated prediction (exactly once: the primary key, ON CONFLICT DO NOTHING).
-- The prediction's own facts are copied so that statistics need no join and survive the
-- predictions' retention (issue 16). data_timestamp is in the key so the table can be
-- partitioned by it later.
CREATE TABLE IF NOT EXISTS prediction_evaluations (
    prediction_id BIGINT NOT NULL,
    data_timestamp TIMESTAMP WITH TIME ZONE NOT NULL,
    coin_id VARCHAR(255) NOT NULL,
    model_id BIGINT NOT NULL,
    active_model_id BIGINT,
    probability NUMERIC(5, 4) NOT NULL,
    prediction INTEGER NOT NULL,
    is_alert BOOLEAN NOT NULL,
    tag VARCHAR(8),
    target_variable VARCHAR(100) NOT NULL,
    future_minutes INTEGER,
    price_change_percent NUMERIC(10, 4),
    target_direction VARCHAR(10),
    horizon_at TIMESTAMP WITH TIME ZONE,
    start_value DOUBLE PRECISION,            -- target_variable on the prediction's row
    end_value DOUBLE PRECISION,              -- on the newest row at or before horizon_at
    end_timestamp TIMESTAMP WITH TIME ZONE,
    realised_change_pct DOUBLE PRECISION,    -- (end - start) / start * 100
    max_change_pct DOUBLE PRECISION,         -- highest value in (data_timestamp, horizon_at]
    max_at TIMESTAMP WITH TIME ZONE,
    min_change_pct DOUBLE PRECISION,         -- lowest value in (data_timestamp, horizon_at]
    min_at TIMESTAMP WITH TIME ZONE,
    target_hit BOOLEAN,                      -- the realised label (NULL when not applicable)
    result VARCHAR(16) NOT NULL
        CONSTRAINT chk_evaluation_result CHECK (result IN ('success', 'failed', 'not_applicable')),
    note TEXT,
    evaluated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    PRIMARY KEY (prediction_id, data_timestamp)
);
CREATE INDEX IF NOT EXISTS idx_evaluations_model_ts
    ON prediction_evaluations (active_model_id, data_timestamp DESC);
CREATE INDEX IF NOT EXISTS idx_evaluations_model_alerts
    ON prediction_evaluations (active_model_id, data_timestamp DESC) WHERE is_alert;
CREATE INDEX IF NOT EXISTS idx_evaluations_coin_ts
    ON prediction_evaluations (coin_id, data_timestamp DESC);
CREATE INDEX IF NOT EXISTS idx_evaluations_evaluated
    ON prediction_evaluations (evaluated_at DESC);

-- Replays: a model run over stored coin_metrics history, nothing stored in predictions and
-- nothing sent. Its evaluations go to their own table so that the same statistics SQL reads
-- both (db/evaluations_repo.py); they are deleted with their replay.
CREATE TABLE IF NOT EXISTS prediction_replays (
    id BIGSERIAL PRIMARY KEY,
    active_model_id BIGINT NOT NULL REFERENCES prediction_active_models (id) ON DELETE CASCADE,
    range_start TIMESTAMP WITH TIME ZONE NOT NULL,
    range_end TIMESTAMP WITH TIME ZONE NOT NULL,
    status VARCHAR(10) NOT NULL DEFAULT 'pending'
        CONSTRAINT chk_replay_status CHECK (
            status IN ('pending', 'running', 'done', 'failed', 'cancelled')),
    coins_total INTEGER,
    coins_done INTEGER NOT NULL DEFAULT 0,
    rows_total BIGINT,
    rows_done BIGINT NOT NULL DEFAULT 0,
    max_rows BIGINT NOT NULL,
    max_seconds INTEGER NOT NULL,
    error TEXT,
    statistics JSONB,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    started_at TIMESTAMP WITH TIME ZONE,
    finished_at TIMESTAMP WITH TIME ZONE
);
CREATE TABLE IF NOT EXISTS prediction_replay_evaluations (
    replay_id BIGINT NOT NULL REFERENCES prediction_replays (id) ON DELETE CASCADE,
    coin_id VARCHAR(255) NOT NULL,
    data_timestamp TIMESTAMP WITH TIME ZONE NOT NULL,
    probability NUMERIC(5, 4) NOT NULL,
    prediction INTEGER NOT NULL,
    is_alert BOOLEAN NOT NULL,
    horizon_at TIMESTAMP WITH TIME ZONE,
    start_value DOUBLE PRECISION,
    end_value DOUBLE PRECISION,
    end_timestamp TIMESTAMP WITH TIME ZONE,
    realised_change_pct DOUBLE PRECISION,
    max_change_pct DOUBLE PRECISION,
    max_at TIMESTAMP WITH TIME ZONE,
    min_change_pct DOUBLE PRECISION,
    min_at TIMESTAMP WITH TIME ZONE,
    target_hit BOOLEAN,
    result VARCHAR(16) NOT NULL,
    note TEXT,
    PRIMARY KEY (replay_id, coin_id, data_timestamp)
);

-- A reason with every alert: the features that pushed its probability up most (tree
-- contributions, models/explain.py). Alerts only; NULL on every other row.
ALTER TABLE predictions ADD COLUMN IF NOT EXISTS reasons JSONB;
