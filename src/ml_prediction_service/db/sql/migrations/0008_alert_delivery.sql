-- Alerts that reach n8n in time, once, and only when they mean something.

-- Tags as the original author defined them: negative / positive / alert. Existing rows are
-- tagged from their stored flags (prediction, is_alert), which is what they meant.
ALTER TABLE predictions
    ADD COLUMN IF NOT EXISTS tag VARCHAR(8),
    ADD COLUMN IF NOT EXISTS suppressed BOOLEAN NOT NULL DEFAULT false;
UPDATE predictions
   SET tag = CASE WHEN is_alert THEN 'alert' WHEN prediction = 1 THEN 'positive' ELSE 'negative' END
 WHERE tag IS NULL;

-- Send modes now select by tag. 'positive_only' used to mean prediction = 1, alerts included:
-- where it was set without 'alerts_only', 'alerts_only' is added so such a model keeps sending
-- what it sent before.
UPDATE prediction_active_models
   SET webhook_send_mode = webhook_send_mode || '["alerts_only"]'::jsonb
 WHERE webhook_send_mode ? 'positive_only' AND NOT webhook_send_mode ? 'alerts_only'
   AND NOT webhook_send_mode ? 'all';

-- Noise control per model: ignore windows per tag (seconds of coin time after a sent
-- prediction with that tag; 0 = off) and a coin filter.
ALTER TABLE prediction_active_models
    ADD COLUMN IF NOT EXISTS ignore_alert_seconds INTEGER NOT NULL DEFAULT 0
        CONSTRAINT chk_ignore_alert CHECK (ignore_alert_seconds >= 0),
    ADD COLUMN IF NOT EXISTS ignore_positive_seconds INTEGER NOT NULL DEFAULT 0
        CONSTRAINT chk_ignore_positive CHECK (ignore_positive_seconds >= 0),
    ADD COLUMN IF NOT EXISTS ignore_negative_seconds INTEGER NOT NULL DEFAULT 0
        CONSTRAINT chk_ignore_negative CHECK (ignore_negative_seconds >= 0),
    ADD COLUMN IF NOT EXISTS coin_filter_mode VARCHAR(10) NOT NULL DEFAULT 'all'
        CONSTRAINT chk_coin_filter_mode CHECK (coin_filter_mode IN ('all', 'whitelist', 'blacklist')),
    ADD COLUMN IF NOT EXISTS coin_filter JSONB NOT NULL DEFAULT '[]'::jsonb;

-- When a model last sent (queued) a prediction of a tag for a coin, in coin time.
CREATE TABLE IF NOT EXISTS prediction_webhook_windows (
    active_model_id BIGINT NOT NULL REFERENCES prediction_active_models (id) ON DELETE CASCADE,
    coin_id VARCHAR(255) NOT NULL,
    tag VARCHAR(8) NOT NULL,
    sent_data_timestamp TIMESTAMP WITH TIME ZONE NOT NULL,
    PRIMARY KEY (active_model_id, coin_id, tag)
);

-- Defaults for newly imported models (one row; the environment gives the first defaults).
CREATE TABLE IF NOT EXISTS prediction_model_defaults (
    id BOOLEAN PRIMARY KEY DEFAULT true CONSTRAINT chk_one_row CHECK (id),
    alert_threshold NUMERIC(5, 4)
        CONSTRAINT chk_default_threshold CHECK (alert_threshold >= 0 AND alert_threshold <= 1),
    webhook_url TEXT,
    webhook_enabled BOOLEAN NOT NULL DEFAULT true,
    webhook_send_mode JSONB NOT NULL DEFAULT '["all"]'::jsonb,
    ignore_alert_seconds INTEGER NOT NULL DEFAULT 0,
    ignore_positive_seconds INTEGER NOT NULL DEFAULT 0,
    ignore_negative_seconds INTEGER NOT NULL DEFAULT 0,
    coin_filter_mode VARCHAR(10) NOT NULL DEFAULT 'all',
    coin_filter JSONB NOT NULL DEFAULT '[]'::jsonb,
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW()
);

-- Outbox: superseded (a newer snapshot of the coin replaced it before it was sent) and
-- expired (older than WEBHOOK_MAX_AGE_SECONDS when its turn came) are final states; a
-- re-send request re-opens a delivery and restarts its age (requeued_at).
ALTER TABLE prediction_webhook_outbox DROP CONSTRAINT IF EXISTS chk_outbox_status;
ALTER TABLE prediction_webhook_outbox
    ALTER COLUMN status TYPE VARCHAR(12),
    ADD CONSTRAINT chk_outbox_status CHECK (
        status IN ('pending', 'sending', 'delivered', 'failed', 'superseded', 'expired')),
    ADD COLUMN IF NOT EXISTS requeued_at TIMESTAMP WITH TIME ZONE,
    ADD COLUMN IF NOT EXISTS closed_at TIMESTAMP WITH TIME ZONE;
CREATE INDEX IF NOT EXISTS idx_outbox_status_created
    ON prediction_webhook_outbox (status, created_at);

-- Each payload is stored once: in the outbox. A log row of a delivery refers to it by
-- outbox_id and keeps no copy (test sends, which have no outbox row, keep theirs).
ALTER TABLE prediction_webhook_log ALTER COLUMN payload DROP NOT NULL;
