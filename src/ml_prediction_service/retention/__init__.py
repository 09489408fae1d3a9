"""Retention: the partition keeper (docs/retention.md)."""
