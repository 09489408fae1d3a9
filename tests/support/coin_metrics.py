"""A minimal coin_metrics table for tests that only need the trigger to have a target.
The full stand-in DDL of the collector's tables lives in ml_prediction_service.stand_ins."""

MINIMAL_COIN_METRICS = """
CREATE TABLE IF NOT EXISTS coin_metrics (
    mint VARCHAR(64) NOT NULL,
    "timestamp" TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    phase_id_at_time INTEGER,
    price_close NUMERIC(30, 18)
)
"""
