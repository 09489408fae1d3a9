"""Logging, Prometheus metrics and health."""
