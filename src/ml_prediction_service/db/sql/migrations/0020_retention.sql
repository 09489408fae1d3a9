-- Retention (issue 16, docs/retention.md). The growing tables become RANGE partitioned by
-- data_timestamp after the SQL migrations (db/partitions.py: an empty table in one short
-- transaction, one with rows by a live-safe conversion); the partition keeper creates
-- partitions ahead and drops expired ones, never with a mass DELETE.

-- Per-model daily counts that outlive the raw rows. A partition of predictions or
-- prediction_evaluations adds its counts here in the transaction that drops it, so the rows
-- of a day are counted exactly once: here once dropped, in the raw tables before
-- (db/rollup_repo.py reads both). day = data_timestamp's date in UTC.
CREATE TABLE IF NOT EXISTS prediction_model_daily_stats (
    day DATE NOT NULL,
    model_id BIGINT NOT NULL,
    active_model_id BIGINT,                 -- NULL: predictions of a model since removed
    -- from predictions
    predictions BIGINT NOT NULL DEFAULT 0,
    positives BIGINT NOT NULL DEFAULT 0,    -- prediction = 1
    alerts BIGINT NOT NULL DEFAULT 0,       -- is_alert
    sum_probability DOUBLE PRECISION NOT NULL DEFAULT 0,
    -- from prediction_evaluations
    evaluated BIGINT NOT NULL DEFAULT 0,    -- evaluation rows (any result)
    not_applicable BIGINT NOT NULL DEFAULT 0,
    true_positives BIGINT NOT NULL DEFAULT 0,   -- prediction 1, target hit
    false_positives BIGINT NOT NULL DEFAULT 0,  -- prediction 1, not hit
    true_negatives BIGINT NOT NULL DEFAULT 0,   -- prediction 0, not hit
    false_negatives BIGINT NOT NULL DEFAULT 0,  -- prediction 0, hit
    targets_hit BIGINT NOT NULL DEFAULT 0,
    alerts_evaluated BIGINT NOT NULL DEFAULT 0, -- alerts with a label (target_hit not NULL)
    alerts_true BIGINT NOT NULL DEFAULT 0,      -- is_alert AND target_hit
    sum_realised_change_after_alert DOUBLE PRECISION NOT NULL DEFAULT 0,
    alerts_with_change BIGINT NOT NULL DEFAULT 0, -- alerts with a realised change (its mean)
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    CONSTRAINT uq_model_daily_stats UNIQUE NULLS NOT DISTINCT (day, model_id, active_model_id)
);
CREATE INDEX IF NOT EXISTS idx_model_daily_stats_active
    ON prediction_model_daily_stats (active_model_id, day);
