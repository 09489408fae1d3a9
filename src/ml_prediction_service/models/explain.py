"""Why a model alerted: per-row feature contributions of the tree models we serve.

``explainer(estimator)`` gives an object whose ``explain(x)`` returns, for each row, one
contribution per input column and a base value, with ``base + contributions.sum()`` equal to
the model's own output for that row:

- **XGBoost**: the booster's native contributions (``pred_contribs=True`` on a ``DMatrix``):
  by default its tree-path ones (``approx_contribs=True``, the same Saabas method as the
  forests, 8-90x cheaper at a batch's alerts), with ``exact=True`` (``ALERT_REASONS_METHOD=shap``)
  exact tree SHAP; the output is the *margin* (log-odds; the probability is its logistic), the
  base value the booster's bias column.
- **Random Forest** (scikit-learn): tree-path contributions (Saabas): each tree's decision path
  is walked from the root; the change of the positive class's share from a node to the child
  the row goes to is credited to the node's split feature; averaged over the trees. The base
  value is the mean root share and the output ``predict_proba[:, 1]`` itself (a probability).

Both push the probability up where a contribution is positive, so :func:`top_reasons` takes the
largest positive ones. Run only for alerts (a few rows per batch), never on the whole batch.
The forest's arrays are built once per model, on its first alert (``LoadedModel.explainer``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypedDict

import numpy as np
from numpy.typing import NDArray

from ml_prediction_service.models.loader import estimator_kind

FloatMatrix = NDArray[np.float64]
FloatVector = NDArray[np.float64]
IntVector = NDArray[np.int64]


class ExplainError(Exception):
    """The model cannot be explained (unsupported kind or shape)."""


class Reason(TypedDict):
    feature: str
    contribution: float  # RF: probability; XGBoost: log-odds (margin)
    value: float  # the input the model saw


class Explainer(Protocol):
    @property
    def output(self) -> str:
        """What base + contributions add up to: ``probability`` or ``margin``."""
        ...

    def explain(self, x: FloatMatrix, exact: bool = False) -> tuple[FloatMatrix, FloatVector]:
        """(contributions rows × columns, base value per row) for the rows of ``x``;
        ``exact``: exact tree SHAP where the model kind has it (else tree-path)."""
        ...


@dataclass(frozen=True)
class BoosterExplainer:
    booster: Any
    n_features: int
    output: str = "margin"

    def explain(self, x: FloatMatrix, exact: bool = False) -> tuple[FloatMatrix, FloatVector]:
        import xgboost

        matrix = xgboost.DMatrix(np.asarray(x, dtype=np.float64), nthread=1)
        out = np.asarray(
            self.booster.predict(
                matrix,
                pred_contribs=True,
                approx_contribs=not exact,
                validate_features=False,
            ),
            dtype=np.float64,
        )
        if out.ndim != 2 or out.shape[1] != self.n_features + 1:
            raise ExplainError(f"pred_contribs returned shape {out.shape} for {x.shape}")
        return out[:, :-1], out[:, -1]


@dataclass(frozen=True)
class ForestExplainer:
    """Every tree's nodes in one set of arrays (node ids offset per tree), with what each
    step to a child credits to the node's split feature computed once; every (row, tree)
    walks its path in lockstep, and one ``bincount`` adds up the credits at the end."""

    roots: IntVector  # per tree
    left: IntVector  # global child ids (-1 at a leaf)
    right: IntVector
    feature: IntVector
    threshold: FloatVector
    gain_left: FloatVector  # the positive class's share at the child minus at the node
    gain_right: FloatVector  # (0 at a leaf)
    bias: float  # the mean root share
    n_features: int
    output: str = "probability"

    def explain(self, x: FloatMatrix, exact: bool = False) -> tuple[FloatMatrix, FloatVector]:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ExplainError(f"expected rows of {self.n_features} inputs, got {x.shape}")
        n, width, trees = x.shape[0], self.n_features, len(self.roots)
        # scikit-learn compares float32 inputs with float64 thresholds
        flat_x = x.astype(np.float32).astype(np.float64).ravel()
        node = np.tile(self.roots, n)  # one walker per (row, tree)
        base = np.repeat(np.arange(n, dtype=np.int64) * width, trees)
        walking = self.left[node] >= 0  # a tree that is one leaf credits nothing
        node, base = node[walking], base[walking]
        # per step: the cell (row * width + the node's feature) and what the step credits it
        cells, gains = [np.zeros(0, np.int64)], [np.zeros(0)]
        while node.size:  # each step goes one level down: never longer than a tree
            cell = base + self.feature[node]
            go_left = flat_x[cell] <= self.threshold[node]
            cells.append(cell)
            gains.append(np.where(go_left, self.gain_left[node], self.gain_right[node]))
            node = np.where(go_left, self.left[node], self.right[node])
            walking = self.left[node] >= 0
            node, base = node[walking], base[walking]
        flat = np.bincount(
            np.concatenate(cells), weights=np.concatenate(gains), minlength=n * width
        )
        return flat.reshape(n, width) / trees, np.full(n, self.bias)


def _forest(estimator: Any) -> ForestExplainer:
    trees = [t.tree_ for t in getattr(estimator, "estimators_", [])]
    if not trees:
        raise ExplainError("the forest has no trees")
    if len(getattr(estimator, "classes_", ())) != 2:
        raise ExplainError("only binary classifiers are explained")
    lefts, rights, features, thresholds, shares, roots = [], [], [], [], [], []
    offset = 0
    for t in trees:
        value = np.asarray(t.value, dtype=np.float64)
        if value.ndim != 3 or value.shape[1] != 1 or value.shape[2] != 2:
            raise ExplainError(f"tree values of shape {value.shape}: not one binary output")
        totals = value[:, 0, :].sum(axis=1)
        shares.append(value[:, 0, 1] / np.where(totals == 0.0, 1.0, totals))  # as predict_proba
        left = np.asarray(t.children_left, dtype=np.int64)
        right = np.asarray(t.children_right, dtype=np.int64)
        leaf = left < 0
        lefts.append(np.where(leaf, -1, left + offset))
        rights.append(np.where(leaf, -1, right + offset))
        features.append(np.asarray(t.feature, dtype=np.int64))
        thresholds.append(np.asarray(t.threshold, dtype=np.float64))
        roots.append(offset)
        offset += len(left)
    left_all, right_all = np.concatenate(lefts), np.concatenate(rights)
    share = np.concatenate(shares)
    leaf_all = left_all < 0
    root_ids = np.asarray(roots, dtype=np.int64)
    return ForestExplainer(
        roots=root_ids,
        left=left_all,
        right=right_all,
        feature=np.concatenate(features),
        threshold=np.concatenate(thresholds),
        # a leaf is never left: it credits nothing (its -1 "children" are never read)
        gain_left=np.where(leaf_all, 0.0, share[left_all] - share),
        gain_right=np.where(leaf_all, 0.0, share[right_all] - share),
        bias=float(share[root_ids].mean()),
        n_features=int(estimator.n_features_in_),
    )


def explainer(estimator: Any) -> Explainer:
    """The explainer of a loaded estimator; :class:`ExplainError` for another kind."""
    kind = estimator_kind(estimator)
    if kind == "xgboost":
        return BoosterExplainer(estimator.get_booster(), int(estimator.n_features_in_))
    if kind == "random_forest":
        return _forest(estimator)
    raise ExplainError(f"no explainer for {type(estimator).__name__}")


def probability_of(explainer: Explainer, output: FloatVector) -> FloatVector:
    """The probability that an explainer's output (base + contributions) stands for."""
    if explainer.output == "margin":
        return np.asarray(1.0 / (1.0 + np.exp(-output)), dtype=np.float64)
    return np.asarray(output, dtype=np.float64)


def explain_served(
    explainer: Explainer,
    x: FloatMatrix,
    served: FloatVector,
    tolerance: float,
    *,
    exact: bool = False,
) -> FloatMatrix:
    """Contributions of the rows of ``x``, checked against the probabilities they were served
    with: a model whose contributions do not add up to what it predicted (within
    ``tolerance``; the served runtime may differ from the library by up to ONNX_TOLERANCE)
    is not explained (:class:`ExplainError`)."""
    contributions, base = explainer.explain(x, exact)
    if not np.isfinite(contributions).all() or not np.isfinite(base).all():
        raise ExplainError("contributions are not finite")
    total = probability_of(explainer, base + contributions.sum(axis=1))
    off = float(np.max(np.abs(total - served), initial=0.0))
    if off > tolerance:
        raise ExplainError(
            f"contributions add up to a probability {off:.3g} away from the served one"
        )
    return contributions


def top_reasons(
    contributions: FloatMatrix, x: FloatMatrix, names: Sequence[str], count: int
) -> list[list[Reason]]:
    """Per row, the ``count`` inputs with the largest positive contributions, largest first
    (fewer when fewer pushed the output up; ties by input order)."""
    if len(names) != contributions.shape[1]:
        raise ExplainError(f"{len(names)} names for {contributions.shape[1]} contributions")
    order = np.argsort(-contributions, axis=1, kind="stable")[:, :count]
    # the chosen cells as Python floats in one go, and plain dict displays: indexing numpy
    # cell by cell and calling the TypedDict cost more than the sort
    rows = np.arange(len(order))[:, None]
    top = contributions[rows, order].tolist()
    values = x[rows, order].tolist()
    out: list[list[Reason]] = [
        [
            {"feature": names[j], "contribution": c, "value": v}
            for j, c, v in zip(columns, cs, vs, strict=True)
            if c > 0.0
        ]
        for columns, cs, vs in zip(order.tolist(), top, values, strict=True)
    ]
    return out
