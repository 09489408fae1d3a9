"""``python -m ml_prediction_service.cli`` (the same as ``python -m ml_prediction_service``)."""

import sys

from ml_prediction_service.cli.main import main

sys.exit(main())
