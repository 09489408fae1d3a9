"""The ``ml-prediction-service`` command (entry point ``ml_prediction_service.cli:main``).

``main`` builds the parser from one module per command group, each with ``register``:
``service`` (serve, migrate, db-url, db-stop), ``stand_ins`` (dev-schema, simulate,
train-demo, training-service), ``bench`` (bench, bench-features), ``ui`` and ``demo``.
Argument types shared by all of them are in ``args``. The packages the commands call into
never import this one.
"""

from ml_prediction_service.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
