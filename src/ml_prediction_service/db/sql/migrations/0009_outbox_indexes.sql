-- Indexes for the outbox as the sender and the worker now use it. Partial indexes hold only
-- the few open rows, so their cost does not grow with the delivered history.
--   - the worker closes older pending snapshots of a (coin, url) when it queues a newer one;
--   - a claim skips (coin, url)s with a delivery in flight;
--   - the sender claims pending deliveries freshest first, and expiry reads them oldest first.
DROP INDEX IF EXISTS idx_outbox_open;
DROP INDEX IF EXISTS idx_outbox_status_created;
CREATE INDEX IF NOT EXISTS idx_outbox_pending_coin
    ON prediction_webhook_outbox (coin_id, webhook_url) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS idx_outbox_sending_coin
    ON prediction_webhook_outbox (coin_id, webhook_url) WHERE status = 'sending';
CREATE INDEX IF NOT EXISTS idx_outbox_pending_created
    ON prediction_webhook_outbox (created_at) WHERE status = 'pending';
