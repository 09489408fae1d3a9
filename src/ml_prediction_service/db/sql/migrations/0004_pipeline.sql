-- Real-time pipeline: idempotent predictions, freshness flag, polling watermark.

-- Reprocessing an event never duplicates a prediction.
CREATE UNIQUE INDEX IF NOT EXISTS uq_predictions_model_coin_ts
    ON predictions (active_model_id, coin_id, data_timestamp);

ALTER TABLE predictions
    ADD COLUMN IF NOT EXISTS is_stale BOOLEAN NOT NULL DEFAULT false,
    ADD COLUMN IF NOT EXISTS is_alert BOOLEAN,
    ADD COLUMN IF NOT EXISTS alert_threshold NUMERIC(5, 4),
    ADD COLUMN IF NOT EXISTS event_received_at TIMESTAMP WITH TIME ZONE;

CREATE INDEX IF NOT EXISTS idx_predictions_alerts
    ON predictions (created_at DESC) WHERE is_alert;

-- Polling fallback (no trigger): how far coin_metrics has been read, per consumer.
CREATE TABLE IF NOT EXISTS prediction_poll_state (
    consumer TEXT PRIMARY KEY,
    watermark TIMESTAMP WITH TIME ZONE NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW()
);
