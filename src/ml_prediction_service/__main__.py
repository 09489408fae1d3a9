"""``python -m ml_prediction_service``."""

import sys

from ml_prediction_service.cli import main

sys.exit(main())
