"""Outcome evaluation: did a prediction come true? (docs/evaluation.md)."""
