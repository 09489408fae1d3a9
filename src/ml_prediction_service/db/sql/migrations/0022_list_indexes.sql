-- Indexes for the API's list queries, chosen by EXPLAIN (ANALYZE, BUFFERS) on 600k
-- predictions in daily partitions (docs/indexes.md: the plans before and after, and the
-- insert benchmark). Each listing orders newest first and counts its matches: an index leads
-- with the filtered column and goes on with the listing's order, so both the page (LIMIT
-- stops early) and the count (an index-only scan of the matches) use it.
--
-- CREATE INDEX on a partitioned parent builds one on every partition (and each later
-- partition gets it); while it builds it holds a SHARE lock on the partitions: INSERTs wait.
-- On a large live database build them first without blocking writers (docs/indexes.md,
-- "Adding them to a live database"); IF NOT EXISTS then skips each one here.

-- predictions ---------------------------------------------------------------------------
-- no filter, or only from/to: the newest rows (scanned backwards)
CREATE INDEX IF NOT EXISTS idx_predictions_ts ON predictions (data_timestamp);
-- ?model_id=, and ?active_model_id= (the listing adds that model's model_id to the filter:
-- db/predictions_repo.list_predictions; one index instead of two, each costs every row).
-- 0006 dropped the older pair, whose second column was created_at, not the listing's order.
-- active_model_id rides along (INCLUDE): the count of ?active_model_id= stays index-only.
CREATE INDEX IF NOT EXISTS idx_predictions_model_ts
    ON predictions (model_id, data_timestamp) INCLUDE (active_model_id);
-- ?is_alert=true: alert rows only, in the listing's order (the alert index of 0004 is on
-- created_at: the page had to sort every alert)
CREATE INDEX IF NOT EXISTS idx_predictions_alerts_ts ON predictions (data_timestamp) WHERE is_alert;

-- webhook delivery log (one row per attempt) --------------------------------------------
-- ?outbox_id= (a delivery's attempts) and ?outcome= (the UI's filter), newest (id) first
CREATE INDEX IF NOT EXISTS idx_webhook_log_outbox ON prediction_webhook_log (outbox_id);
CREATE INDEX IF NOT EXISTS idx_webhook_log_outcome ON prediction_webhook_log (outcome, id);

-- webhook outbox (one row per delivery) -------------------------------------------------
-- /api/webhooks/outbox/deliveries?status= (the UI lists failed and expired ones), id first
CREATE INDEX IF NOT EXISTS idx_outbox_status_id ON prediction_webhook_outbox (status, id);
