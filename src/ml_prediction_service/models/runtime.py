"""Model runtimes: one tiny interface, ``predict_proba(X) -> P(class 1)`` for a whole batch.

- Random Forest: converted to ONNX Runtime (double precision, one thread) **only if** its
  probabilities match sklearn's within ``ONNX_TOLERANCE`` on a probe batch built from the
  forest's own split thresholds; otherwise sklearn with ``n_jobs=1``. Measured here: sklearn
  RF ~4 ms per call whatever the batch size; ONNX Runtime ~20 µs for one row.
- XGBoost: converted to ONNX Runtime (onnxmltools, float32 like XGBoost itself) **only if**
  its probabilities match the booster's within ``ONNX_TOLERANCE`` on a probe batch built from
  the trees' split conditions; otherwise the booster's ``inplace_predict`` with ``nthread=1``
  (verified against ``predict_proba``), else ``predict_proba``. Measured here for 14 rows:
  ``inplace_predict`` ~450 µs per call (fixed overhead), ONNX Runtime ~35 µs.
"""

from __future__ import annotations

import copy
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
    float32_input: bool = False  # the graph takes float32 (XGBoost), else float64

    def predict_proba(self, x: FloatMatrix) -> FloatVector:
        # Both libraries compare float32-rounded inputs with their thresholds (sklearn: with
        # float64 thresholds; XGBoost: float32): round the same way, so decisions are equal.
        x32 = np.asarray(x, dtype=np.float32)
        feed = x32 if self.float32_input else x32.astype(np.float64)
        probabilities = self.session.run(["probabilities"], {self.input_name: feed})[0]
        return np.asarray(probabilities[:, 1], dtype=np.float64)


def _forest_thresholds(estimator: Any, n_features: int) -> list[list[float]]:
    thresholds: list[list[float]] = [[] for _ in range(n_features)]
    for tree in getattr(estimator, "estimators_", []):
        t = tree.tree_
        for feature, threshold in zip(t.feature, t.threshold, strict=True):
            if feature >= 0:
                thresholds[int(feature)].append(float(threshold))
    return thresholds


def _booster_thresholds(booster: Any, n_features: int) -> list[list[float]]:
    """Split conditions per feature of an XGBoost booster whose features are unnamed
    (``f0``, ``f1``, …)."""
    thresholds: list[list[float]] = [[] for _ in range(n_features)]
    frame = booster.trees_to_dataframe()
    splits = frame[frame["Feature"] != "Leaf"]
    for feature, split in zip(splits["Feature"], splits["Split"], strict=True):
        index = int(str(feature).lstrip("f"))
        if 0 <= index < n_features:
            thresholds[index].append(float(split))
    return thresholds


def probe_batch(
    estimator: Any,
    n_features: int,
    rows: int = PROBE_ROWS,
    *,
    thresholds: list[list[float]] | None = None,
    float32: bool = False,
) -> FloatMatrix:
    """Inputs that exercise the model's split boundaries (where float rounding would flip a
    decision): each split value itself and its neighbours one step below and above (float64
    steps, or float32 steps for models that compare in float32), plus zeros and ordinary
    random values. ``thresholds`` per feature default to a forest's split thresholds."""
    rng = np.random.default_rng(20261124)
    x = rng.normal(size=(rows, n_features))
    if thresholds is None:
        thresholds = _forest_thresholds(estimator, n_features)
    for j, values in enumerate(thresholds):
        if not values:
            continue
        pick = rng.choice(np.asarray(values), size=rows)
        step = rng.choice(np.asarray([-1, 0, 1]), size=rows)
        if float32:
            p32 = pick.astype(np.float32)
            toward = np.where(step < 0, -np.inf, np.inf).astype(np.float32)
            moved = np.nextafter(p32, toward)
            x[:, j] = np.where(step == 0, p32, moved).astype(np.float64)
        else:
            toward = np.where(step < 0, -np.inf, np.inf)
            x[:, j] = np.where(step == 0, pick, np.nextafter(pick, toward))
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


def _try_onnx_xgboost(estimator: Any, n_features: int) -> OnnxRuntime | str:
    try:
        import onnxruntime as ort
        from onnxmltools import convert_xgboost
        from onnxmltools.convert.common.data_types import FloatTensorType
    except ImportError as exc:
        return f"ONNX not available ({exc})"
    try:
        # the converter only understands unnamed features (f0, f1, …): convert a copy
        unnamed = copy.deepcopy(estimator)
        unnamed.get_booster().feature_names = None
        unnamed.get_booster().feature_types = None
        onx = convert_xgboost(
            unnamed, initial_types=[("input", FloatTensorType([None, n_features]))], target_opset=15
        )
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(
            onx.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
        runtime = OnnxRuntime(session, session.get_inputs()[0].name, n_features, float32_input=True)
        probe = probe_batch(
            estimator,
            n_features,
            thresholds=_booster_thresholds(unnamed.get_booster(), n_features),
            float32=True,
        )
        booster = estimator.get_booster()
        reference = np.asarray(booster.inplace_predict(probe, validate_features=False))
        if reference.ndim == 2:
            reference = reference[:, 1]
        diff = _max_diff(runtime.predict_proba(probe), reference.astype(np.float64))
    except Exception as exc:  # conversion problems must never stop a model from serving
        return f"ONNX conversion failed ({type(exc).__name__}: {exc})"
    if diff > ONNX_TOLERANCE:
        return f"ONNX probabilities differ by {diff:.2e} > {ONNX_TOLERANCE:.0e}"
    return runtime


def _xgboost_runtime(
    estimator: Any, n_features: int, *, use_onnx: bool
) -> tuple[Runtime, str | None]:
    onnx_note = "ONNX disabled"
    try:
        estimator.set_params(n_jobs=1)
        booster = estimator.get_booster()
        booster.set_param({"nthread": 1})
        if use_onnx:
            onnx = _try_onnx_xgboost(estimator, n_features)
            if not isinstance(onnx, str):
                return onnx, None
            onnx_note = onnx
            logger.info("serving XGBoost with inplace_predict: %s", onnx)
        runtime = XGBoostRuntime(booster, n_features)
        probe = probe_batch(estimator, n_features, rows=64)
        diff = _max_diff(runtime.predict_proba(probe), estimator.predict_proba(probe)[:, 1])
        if diff <= ONNX_TOLERANCE:
            return runtime, onnx_note
        note = f"inplace_predict differs from predict_proba by {diff:.2e}"
    except Exception as exc:
        note = f"inplace_predict unusable ({type(exc).__name__}: {exc})"
    return SklearnRuntime(estimator, n_features, name="xgboost-predict_proba"), note


def build_runtime(estimator: Any, *, use_onnx: bool = True) -> tuple[Runtime, str | None]:
    """The fastest runtime whose probabilities equal the estimator's, and a note on why a
    faster one was not used (None when the first choice worked)."""
    n_features = int(estimator.n_features_in_)
    kind = estimator_kind(estimator)
    if kind == "xgboost":
        return _xgboost_runtime(estimator, n_features, use_onnx=use_onnx)
    if hasattr(estimator, "n_jobs"):
        estimator.n_jobs = 1
    if use_onnx:
        onnx = _try_onnx(estimator, n_features, probe_batch(estimator, n_features))
        if not isinstance(onnx, str):
            return onnx, None
        logger.info("serving with sklearn: %s", onnx)
        return SklearnRuntime(estimator, n_features), onnx
    return SklearnRuntime(estimator, n_features), "ONNX disabled"
