-- The service's own tables, with the binding names of contract §6. ml_models and coin_metrics belong
-- to other systems and are never created here.

CREATE TABLE IF NOT EXISTS prediction_active_models (
    id BIGSERIAL PRIMARY KEY,
    model_id BIGINT NOT NULL,
    model_name VARCHAR(255) NOT NULL,
    model_type VARCHAR(50) NOT NULL,
    target_variable VARCHAR(100) NOT NULL,
    target_operator VARCHAR(10),
    target_value NUMERIC(20, 2),
    future_minutes INTEGER,
    price_change_percent NUMERIC(10, 4),
    target_direction VARCHAR(10),
    features JSONB NOT NULL,
    phases JSONB,
    params JSONB,
    local_model_path TEXT NOT NULL,
    model_file_url TEXT,
    is_active BOOLEAN DEFAULT true,
    last_prediction_at TIMESTAMP WITH TIME ZONE,
    total_predictions BIGINT DEFAULT 0,
    downloaded_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
    activated_at TIMESTAMP WITH TIME ZONE,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
    custom_name VARCHAR(255),
    alert_threshold NUMERIC(5, 4) DEFAULT 0.7
        CONSTRAINT chk_alert_threshold CHECK (alert_threshold >= 0 AND alert_threshold <= 1),
    CONSTRAINT chk_model_type CHECK (model_type IN ('random_forest', 'xgboost')),
    CONSTRAINT chk_operator CHECK (
        target_operator IS NULL OR target_operator IN ('>', '<', '>=', '<=', '=')
    ),
    CONSTRAINT chk_direction CHECK (target_direction IS NULL OR target_direction IN ('up', 'down')),
    UNIQUE (model_id)
);

CREATE INDEX IF NOT EXISTS idx_active_models_active
    ON prediction_active_models (is_active) WHERE is_active = true;
CREATE INDEX IF NOT EXISTS idx_active_models_model_id
    ON prediction_active_models (model_id);
CREATE INDEX IF NOT EXISTS idx_active_models_custom_name
    ON prediction_active_models (custom_name) WHERE custom_name IS NOT NULL;

CREATE TABLE IF NOT EXISTS predictions (
    id BIGSERIAL PRIMARY KEY,
    coin_id VARCHAR(255) NOT NULL,
    data_timestamp TIMESTAMP WITH TIME ZONE NOT NULL,
    model_id BIGINT NOT NULL,
    active_model_id BIGINT REFERENCES prediction_active_models (id) ON DELETE SET NULL,
    prediction INTEGER NOT NULL CHECK (prediction IN (0, 1)),
    probability NUMERIC(5, 4) NOT NULL CHECK (probability >= 0.0 AND probability <= 1.0),
    phase_id_at_time INTEGER,
    features JSONB,
    prediction_duration_ms INTEGER,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW()
);

CREATE INDEX IF NOT EXISTS idx_predictions_coin_timestamp
    ON predictions (coin_id, data_timestamp DESC);
CREATE INDEX IF NOT EXISTS idx_predictions_model
    ON predictions (model_id, created_at DESC);
CREATE INDEX IF NOT EXISTS idx_predictions_active_model
    ON predictions (active_model_id, created_at DESC);
CREATE INDEX IF NOT EXISTS idx_predictions_created
    ON predictions (created_at DESC);

CREATE TABLE IF NOT EXISTS prediction_webhook_log (
    id BIGSERIAL PRIMARY KEY,
    coin_id VARCHAR(255) NOT NULL,
    data_timestamp TIMESTAMP WITH TIME ZONE NOT NULL,
    webhook_url TEXT NOT NULL,
    payload JSONB NOT NULL,
    response_status INTEGER,
    response_body TEXT,
    error_message TEXT,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW()
);

CREATE INDEX IF NOT EXISTS idx_webhook_log_created
    ON prediction_webhook_log (created_at DESC);
CREATE INDEX IF NOT EXISTS idx_webhook_log_status
    ON prediction_webhook_log (response_status) WHERE response_status IS NOT NULL;
