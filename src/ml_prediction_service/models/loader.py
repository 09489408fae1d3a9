"""Load a model file and verify it is what we serve: a bare, fitted, binary
``RandomForestClassifier`` or ``XGBClassifier`` with ``predict_proba``.

Loading a pickle executes code: only files from the configured training service or an
authenticated upload reach this function (see docs/models.md).
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import joblib

from ml_prediction_service.models.errors import ModelFileError

SUPPORTED = {
    "random_forest": ("sklearn.ensemble", "RandomForestClassifier"),
    "xgboost": ("xgboost", "XGBClassifier"),
}

# First bytes of what joblib.dump writes: a pickle (protocol 2+), or a compressed pickle.
_MAGIC = (
    b"\x80",  # pickle protocol >= 2
    b"\x78",  # zlib
    b"\x1f\x8b",  # gzip
    b"BZh",  # bz2
    b"\xfd7zXZ",  # xz
    b"\x5d\x00\x00",  # lzma
    b"\x04\x22\x4d\x18",  # lz4
)


def _sniff(path: Path) -> None:
    with path.open("rb") as fh:
        head = fh.read(64)
    if not head:
        raise ModelFileError(f"model file {path.name} is empty")
    if head.lstrip()[:1] in (b"<", b"{", b"["):
        preview = head.lstrip()[:40].decode("utf-8", "replace")
        raise ModelFileError(
            f"model file {path.name} is not a joblib/pickle file: it starts like a text "
            f"document ({preview!r}) — probably an HTML or JSON error page"
        )
    if not head.startswith(_MAGIC):
        raise ModelFileError(
            f"model file {path.name} is not a joblib/pickle file (unknown header {head[:8]!r})"
        )


def estimator_kind(estimator: Any) -> str | None:
    """``"random_forest"`` / ``"xgboost"`` for supported estimators, else None."""
    cls = type(estimator)
    for kind, (module, name) in SUPPORTED.items():
        if cls.__name__ == name and cls.__module__.startswith(module):
            return kind
    return None


def load_estimator(path: Path, *, expected_type: str | None = None) -> Any:
    """Load and verify; raise :class:`ModelFileError` with the precise reason otherwise."""
    if not path.is_file():
        raise ModelFileError(f"model file {path} does not exist")
    _sniff(path)
    try:
        estimator = joblib.load(path)
    except (pickle.UnpicklingError, EOFError, ValueError, KeyError, IndexError) as exc:
        raise ModelFileError(
            f"model file {path.name} is corrupt or truncated: {type(exc).__name__}: {exc}"
        ) from exc
    except (ModuleNotFoundError, AttributeError, ImportError) as exc:
        raise ModelFileError(
            f"model file {path.name} needs code this service does not have: {exc}"
        ) from exc
    except Exception as exc:
        raise ModelFileError(
            f"model file {path.name} could not be loaded: {type(exc).__name__}: {exc}"
        ) from exc
    kind = estimator_kind(estimator)
    if kind is None:
        cls = type(estimator)
        raise ModelFileError(
            f"model file {path.name} holds a {cls.__module__}.{cls.__qualname__}; only "
            "sklearn RandomForestClassifier and xgboost XGBClassifier are supported"
        )
    if expected_type is not None and kind != expected_type:
        raise ModelFileError(
            f"model file {path.name} holds a {type(estimator).__name__} but the model's "
            f"model_type is {expected_type!r}"
        )
    if not callable(getattr(estimator, "predict_proba", None)):
        raise ModelFileError(f"model file {path.name}: estimator has no predict_proba")
    n_features = getattr(estimator, "n_features_in_", None)
    if not isinstance(n_features, int) or n_features < 1:
        raise ModelFileError(f"model file {path.name}: estimator is not fitted (no n_features_in_)")
    classes = list(getattr(estimator, "classes_", []))
    if len(classes) != 2:
        raise ModelFileError(
            f"model file {path.name}: expected a binary classifier, got classes {classes}"
        )
    return estimator
