-- n8n webhooks: per-model settings, a durable outbox written with the predictions,
-- and one log row per delivery attempt.
ALTER TABLE prediction_active_models
    ADD COLUMN IF NOT EXISTS webhook_url TEXT,
    ADD COLUMN IF NOT EXISTS webhook_enabled BOOLEAN NOT NULL DEFAULT true,
    ADD COLUMN IF NOT EXISTS webhook_send_mode JSONB NOT NULL DEFAULT '["all"]'::jsonb;

CREATE TABLE IF NOT EXISTS prediction_webhook_outbox (
    id BIGSERIAL PRIMARY KEY,
    coin_id VARCHAR(255) NOT NULL,
    data_timestamp TIMESTAMP WITH TIME ZONE NOT NULL,
    webhook_url TEXT NOT NULL,
    payload JSONB NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    status VARCHAR(10) NOT NULL DEFAULT 'pending'
        CONSTRAINT chk_outbox_status CHECK (status IN ('pending', 'sending', 'delivered', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    lease_until TIMESTAMP WITH TIME ZONE,
    last_status INTEGER,
    last_error TEXT,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    delivered_at TIMESTAMP WITH TIME ZONE
);

-- The sender reads the oldest open delivery per (coin, url): deliveries stay in order.
CREATE INDEX IF NOT EXISTS idx_outbox_open
    ON prediction_webhook_outbox (coin_id, webhook_url, id)
    WHERE status IN ('pending', 'sending');
CREATE INDEX IF NOT EXISTS idx_outbox_created ON prediction_webhook_outbox (created_at);

ALTER TABLE prediction_webhook_log
    ADD COLUMN IF NOT EXISTS outbox_id BIGINT,
    ADD COLUMN IF NOT EXISTS attempt INTEGER,
    ADD COLUMN IF NOT EXISTS idempotency_key TEXT,
    ADD COLUMN IF NOT EXISTS duration_ms INTEGER,
    ADD COLUMN IF NOT EXISTS outcome VARCHAR(12);

CREATE INDEX IF NOT EXISTS idx_webhook_log_coin ON prediction_webhook_log (coin_id, created_at DESC);
