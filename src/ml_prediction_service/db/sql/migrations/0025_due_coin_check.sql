-- The evaluator's claim takes the due rows of the coins of the oldest due rows, per coin only
-- those whose check time has come (db/evaluations_repo.CLAIM_DUE, docs/evaluation.md). As a
-- set join it read every due row of the table (19 ms per claim at minute 12 of a 30-minute
-- soak, 62-79 ms from minute 18 on; 27-49 ms with 114k due rows on a test database); through
-- this index, per coin in a lateral join, 2.7-4.8 ms there. The due table holds
-- about horizon + settle time of rows, so the index stays small; one more entry per due row
-- written with the predictions.
CREATE INDEX IF NOT EXISTS idx_evaluation_due_coin_check
    ON prediction_evaluation_due (coin_id, check_at);
