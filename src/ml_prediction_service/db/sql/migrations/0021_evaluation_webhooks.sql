-- Evaluation webhooks (issue 15, send mode "evaluations"; docs/evaluation.md): the outcome of
-- an evaluated alert goes through the same outbox and sender as the predictions. A
-- prediction delivery ('prediction') stands for its coin's current state and is superseded
-- by a newer snapshot of the coin for the same URL; an outcome ('evaluation') belongs to one
-- alert and is never superseded, nor does it supersede anything (db/webhooks_repo.py).
-- A constant default: no table rewrite, also on the partitioned table.
ALTER TABLE prediction_webhook_outbox
    ADD COLUMN IF NOT EXISTS kind VARCHAR(12) NOT NULL DEFAULT 'prediction';
