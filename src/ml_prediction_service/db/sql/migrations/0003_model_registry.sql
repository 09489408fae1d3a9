-- Model registry: verified files, provenance, training metrics for people, uploads.
ALTER TABLE prediction_active_models
    ADD COLUMN IF NOT EXISTS model_sha256 TEXT,
    ADD COLUMN IF NOT EXISTS model_file_size BIGINT,
    ADD COLUMN IF NOT EXISTS source VARCHAR(20) NOT NULL DEFAULT 'training_service',
    ADD COLUMN IF NOT EXISTS description TEXT,
    ADD COLUMN IF NOT EXISTS training_metrics JSONB;

-- Uploaded models have no ml_models row: they get negative model ids from this sequence,
-- so they can never collide with a training-service id.
CREATE SEQUENCE IF NOT EXISTS prediction_uploaded_model_id_seq
    INCREMENT BY -1 MINVALUE -9223372036854775807 MAXVALUE -1 START WITH -1;
