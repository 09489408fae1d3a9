-- Durable event rows written by the coin_metrics trigger in the inserting transaction.
-- NOTIFY on coin_metrics_insert is only a wake-up hint; this table is the truth.
CREATE TABLE IF NOT EXISTS prediction_events (
    id BIGSERIAL PRIMARY KEY,
    mint VARCHAR(64) NOT NULL,
    data_timestamp TIMESTAMP WITH TIME ZONE NOT NULL,
    phase_id INTEGER,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW()
);

CREATE INDEX IF NOT EXISTS idx_prediction_events_created
    ON prediction_events (created_at);
