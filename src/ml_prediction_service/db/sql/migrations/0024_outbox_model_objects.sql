-- Each outbox payload carries the full object of every model in it (~90 feature names,
-- ~2 KB of JSON per model): with ten models that was ~22 KB per delivery, compressed and
-- written to TOAST for every row although most rows are superseded before they are sent
-- (docs/webhooks.md, "Stored payloads"). The part of a model's object that changes only when
-- the model is edited is stored here once, under the SHA-256 of its text; a payload written
-- from now on refers to it with {"$model":"<digest>", ...the changing fields} and the sender
-- (and the delivery log's listing) put the stored text back before it leaves the service.
-- Rows are immutable and content-addressed; one per model version that ever sent, so the
-- table stays small and retention leaves it alone (no partitioning). Payloads written before
-- this migration have no reference and are sent as stored.
CREATE TABLE IF NOT EXISTS prediction_webhook_model_objects (
    digest     TEXT PRIMARY KEY,
    body       TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
