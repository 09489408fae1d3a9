"""Model runtimes: one tiny interface, ``predict_proba(X) -> P(class 1)`` for a whole batch.

- Random Forest: converted to ONNX Runtime (double precision, one thread) **only if** its
  probabilities match sklearn's within ``ONNX_TOLERANCE`` on a probe batch built from the
  forest's own split thresholds; otherwise sklearn with ``n_jobs=1``. Measured here: sklearn
  RF ~4 ms per call whatever the batch size; ONNX Runtime ~20 µs for one row.
- XGBoost: the booster's ``inplace_predict`` with ``nthread=1`` (verified against
  ``predict_proba`` on a probe batch, else ``predict_proba``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from ml_prediction_service.models.loader import estimator_kind

logger = logging.getLogger(__name__)

ONNX_TOLERANCE = 1e-5
PROBE_ROWS = 512

FloatMatrix = NDArray[np.float64]
FloatVector = NDArray[np.float64]


class Runtime(Protocol):
    name: str
    n_features: int

    def predict_proba(self, x: FloatMatrix) -> FloatVector:
        """Probability of the positive class (``classes_[1]``) for each row."""
        ...


@dataclass
class SklearnRuntime:
    estimator: Any
    n_features: int
    name: str = "sklearn"

    def predict_proba(self, x: FloatMatrix) -> FloatVector:
        return np.asarray(self.estimator.predict_proba(x)[:, 1], dtype=np.float64)


@dataclass
class XGBoostRuntime:
    booster: Any
    n_features: int
    name: str = "xgboost-inplace"

    def predict_proba(self, x: FloatMatrix) -> FloatVector:
        out = np.asarray(self.booster.inplace_predict(x, validate_features=False))
        if out.ndim == 2:
            out = out[:, 1]
        return out.astype(np.float64, copy=False)


@dataclass
class OnnxRuntime:
    session: Any
    input_name: str
    n_features: int
    name: str = "onnxruntime"

    def predict_proba(self, x: FloatMatrix) -> FloatVector:
        # sklearn trees compare float32-rounded inputs with float64 thresholds: round the
        # same way, then let the double-precision ONNX trees compare exactly like sklearn.
        x = np.asarray(x, dtype=np.float32).astype(np.float64)
        probabilities = self.session.run(["probabilities"], {self.input_name: x})[0]
        return np.asarray(probabilities[:, 1], dtype=np.float64)


def probe_batch(estimator: Any, n_features: int, rows: int = PROBE_ROWS) -> FloatMatrix:
    """Inputs that exercise the model's split boundaries (where float rounding would flip a
    decision), plus zeros and ordinary random values."""
    rng = np.random.default_rng(20261124)
    x = rng.normal(size=(rows, n_features))
    thresholds: list[list[float]] = [[] for _ in range(n_features)]
    for tree in getattr(estimator, "estimators_", []):
        t = tree.tree_
        for feature, threshold in zip(t.feature, t.threshold, strict=True):
            if feature >= 0:
                thresholds[int(feature)].append(float(threshold))
    for j, values in enumerate(thresholds):
        if not values:
            continue
        pick = rng.choice(np.asarray(values), size=rows)
        jitter = rng.choice(np.asarray([-1.0, 0.0, 1.0]), size=rows) * np.maximum(
            np.abs(pick) * 1e-12, 1e-300
        )
        x[:, j] = pick + jitter
    x[: rows // 16] = 0.0
    return x


def _max_diff(a: FloatVector, b: FloatVector) -> float:
    return float(np.max(np.abs(a - b))) if a.size else 0.0


def _try_onnx(estimator: Any, n_features: int, probe: FloatMatrix) -> OnnxRuntime | str:
    try:
        import onnxruntime as ort
        from skl2onnx import to_onnx
    except ImportError as exc:
        return f"ONNX not available ({exc})"
    try:
        onx = to_onnx(
            estimator,
            probe[:1],
            options={id(estimator): {"zipmap": False}},
            target_opset={"": 17, "ai.onnx.ml": 3},
        )
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(
            onx.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
        runtime = OnnxRuntime(session, session.get_inputs()[0].name, n_features)
        diff = _max_diff(runtime.predict_proba(probe), estimator.predict_proba(probe)[:, 1])
    except Exception as exc:  # conversion problems must never stop a model from serving
        return f"ONNX conversion failed ({type(exc).__name__}: {exc})"
    if diff > ONNX_TOLERANCE:
        return f"ONNX probabilities differ by {diff:.2e} > {ONNX_TOLERANCE:.0e}"
    return runtime


def build_runtime(estimator: Any, *, use_onnx: bool = True) -> tuple[Runtime, str | None]:
    """The fastest runtime whose probabilities equal the estimator's, and a note on why a
    faster one was not used (None when the first choice worked)."""
    n_features = int(estimator.n_features_in_)
    kind = estimator_kind(estimator)
    if kind == "xgboost":
        try:
            estimator.set_params(n_jobs=1)
            booster = estimator.get_booster()
            booster.set_param({"nthread": 1})
            runtime = XGBoostRuntime(booster, n_features)
            probe = probe_batch(estimator, n_features, rows=64)
            diff = _max_diff(runtime.predict_proba(probe), estimator.predict_proba(probe)[:, 1])
            if diff <= ONNX_TOLERANCE:
                return runtime, None
            note = f"inplace_predict differs from predict_proba by {diff:.2e}"
        except Exception as exc:
            note = f"inplace_predict unusable ({type(exc).__name__}: {exc})"
        return SklearnRuntime(estimator, n_features, name="xgboost-predict_proba"), note
    if hasattr(estimator, "n_jobs"):
        estimator.n_jobs = 1
    if use_onnx:
        onnx = _try_onnx(estimator, n_features, probe_batch(estimator, n_features))
        if not isinstance(onnx, str):
            return onnx, None
        logger.info("serving with sklearn: %s", onnx)
        return SklearnRuntime(estimator, n_features), onnx
    return SklearnRuntime(estimator, n_features), "ONNX disabled"
