"""ML Prediction Service: real-time inference on coin_metrics rows."""

__version__ = "0.1.0"
