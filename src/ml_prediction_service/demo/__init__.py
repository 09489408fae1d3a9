"""``ml-prediction-service demo``: the whole system on one machine with one command.

Embedded PostgreSQL, stand-in tables, demo models, the training-service stand-in, a local
webhook receiver, the API (in this process), the collector simulator and the web UI.
"""
