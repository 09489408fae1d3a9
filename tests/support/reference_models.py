"""The committed reference fixtures: models trained by the training service's own library
versions, with the original library's predict_proba on fixed probe rows
(docs/reference-fixtures.md)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "reference_models"
PINNED_GENERATION = "sklearn-1.3.2_xgboost-2.0.2"


@dataclass(frozen=True)
class ReferenceModel:
    generation: str
    libraries: dict[str, str]
    path: Path
    meta: dict[str, Any]  # as an ml_models row would hold it

    @property
    def key(self) -> str:
        return f"{self.generation}/{self.path.stem}"

    @property
    def library(self) -> str:
        return "scikit-learn" if self.meta["model_type"] == "random_forest" else "xgboost"


def generations() -> list[str]:
    return sorted(p.name for p in FIXTURES.iterdir() if (p / "reference.json").is_file())


def reference(generation: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / generation / "reference.json").read_text())
    return data


def reference_models() -> list[ReferenceModel]:
    out = []
    for generation in generations():
        ref = reference(generation)
        for model in ref["models"]:
            meta = {
                "name": f"{generation}-{Path(model['file']).stem}",
                "model_type": model["model_type"],
                "features": model["features"],
                "params": model["params"],
                "target_variable": model["target_variable"],
                "target_operator": model["target_operator"],
                "target_value": model["target_value"],
                "probe": model["probe"],
            }
            out.append(
                ReferenceModel(
                    generation, ref["libraries"], FIXTURES / generation / model["file"], meta
                )
            )
    return out
