-- Lighter prediction writes (docs/decisions.md, "The prediction row's write cost"): each
-- prediction row (and each evaluation) paid for things nothing needs any more.
--
-- 1. Two indexes on created_at. Every listing orders by data_timestamp (0022's indexes), and
--    the last hour's counts of health and /api/stats read data_timestamp now
--    (db/system_repo.py: the newest partitions only, index-only on idx_predictions_ts).
-- 2. The foreign key active_model_id -> prediction_active_models (ON DELETE SET NULL). Its
--    check ran once per row (~20 % of the insert statement), each a KEY SHARE lock on the
--    model's row; deleting a model rewrote every one of its predictions (a mass UPDATE over
--    every partition: hours on a database that keeps weeks), and detaching or dropping a
--    partition had to lock the model registry. Without it, a deleted model's predictions
--    keep their active_model_id (ids are never reused; the API shows model_name null, as
--    before); the pipeline writes only ids of models it has loaded from the registry.
-- 3. prediction_evaluations (evaluated_at): no query reads by it (listings and statistics go
--    by data_timestamp); the evaluator writes a row per evaluated prediction.
--
-- DROP INDEX / DROP CONSTRAINT on a partitioned parent act on every partition in one short
-- transaction (ACCESS EXCLUSIVE for the catalog change, no table rewrite, no scan).
DROP INDEX IF EXISTS idx_predictions_created;
DROP INDEX IF EXISTS idx_predictions_alerts;
DROP INDEX IF EXISTS idx_evaluations_evaluated;
DO $$
DECLARE
    fk record;
BEGIN
    -- by what it refers to, not by name (a converted table may carry another name)
    FOR fk IN SELECT conname FROM pg_constraint
               WHERE conrelid = 'predictions'::regclass AND contype = 'f'
                 AND confrelid = 'prediction_active_models'::regclass AND conparentid = 0
    LOOP
        EXECUTE format('ALTER TABLE predictions DROP CONSTRAINT %I', fk.conname);
    END LOOP;
END
$$;
