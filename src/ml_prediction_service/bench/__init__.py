"""``ml-prediction-service bench``: throughput and latency of the real pipeline, measured
against the naive per-coin/per-model design in the same run."""
