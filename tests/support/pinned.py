"""The training service's pinned environment (scikit-learn 1.3.2, xgboost 2.0.2, pandas 2.1.3,
…) for tests: built once per machine (~1 min, ~800 MB, needs the package index pip uses),
reused afterwards; and the original library's predict_proba run inside it."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import pytest

from ml_prediction_service.stand_ins.training_env import PINNED, ensure_env
from ml_prediction_service.stand_ins.training_side import __file__ as TRAINING_SIDE


@pytest.fixture(scope="session")
def pinned_python() -> Path:
    return ensure_env(PINNED)


def original_proba(python: Path, model_file: Path, rows: list[list[float]]) -> dict[str, object]:
    """``{"libraries": …, "proba": [[p0, p1], …]}`` from the pinned libraries themselves."""
    with tempfile.TemporaryDirectory(prefix="original-proba-") as tmp:
        rows_file, out = Path(tmp) / "rows.json", Path(tmp) / "out.json"
        rows_file.write_text(json.dumps(rows))
        subprocess.run(
            [
                *(str(python), TRAINING_SIDE, "predict", "--model", str(model_file)),
                *("--rows", str(rows_file), "--out", str(out)),
            ],
            check=True,
            capture_output=True,
            timeout=300,
        )
        result: dict[str, object] = json.loads(out.read_text())
    return result
