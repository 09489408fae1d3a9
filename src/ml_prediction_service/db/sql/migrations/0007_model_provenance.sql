-- Which library wrote an imported model file, and which version (read from the file at
-- import; the training service's files are pickles made by its own pinned versions).
ALTER TABLE prediction_active_models
    ADD COLUMN IF NOT EXISTS model_library VARCHAR(20),
    ADD COLUMN IF NOT EXISTS model_library_version VARCHAR(40);
