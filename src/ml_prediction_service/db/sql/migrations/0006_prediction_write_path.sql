-- Every index costs each of the ~10 prediction rows per event, so the write path keeps as
-- few as the queries need:
-- * one unique index (coin_id, data_timestamp, active_model_id) serves idempotency
--   (ON CONFLICT) AND lookups by coin and time — it replaces both the uniqueness index of
--   0004 and the original idx_predictions_coin_timestamp;
-- * (model_id, created_at) and (active_model_id, created_at) served no query of the service.
-- Recent rows (created_at) and alerts keep their indexes.
CREATE UNIQUE INDEX IF NOT EXISTS uq_predictions_coin_ts_model
    ON predictions (coin_id, data_timestamp, active_model_id);
DROP INDEX IF EXISTS uq_predictions_model_coin_ts;
DROP INDEX IF EXISTS idx_predictions_coin_timestamp;
DROP INDEX IF EXISTS idx_predictions_active_model;
DROP INDEX IF EXISTS idx_predictions_model;
