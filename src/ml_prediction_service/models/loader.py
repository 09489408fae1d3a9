"""Load a model file and verify it is what we serve: a bare, fitted, binary
``RandomForestClassifier`` or ``XGBClassifier`` with ``predict_proba``, written by a library
version this service can serve faithfully (:mod:`.compat`).

The file is read once; its bytes are hashed and unpickled from memory, so what is verified
is exactly what is loaded (a file replaced in between cannot slip in). Loading a pickle
executes code: only files from the configured training service or an authenticated upload
reach this function (see docs/models.md).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import pickle
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib

from ml_prediction_service.models import compat
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

# warnings.catch_warnings changes process-wide state: one unpickling at a time
_UNPICKLE_LOCK = threading.Lock()


@dataclass(frozen=True)
class LoadedFile:
    estimator: Any
    provenance: compat.Provenance
    sha256: str


def _sniff(head: bytes, name: str) -> None:
    if not head:
        raise ModelFileError(f"model file {name} is empty")
    if head.lstrip()[:1] in (b"<", b"{", b"["):
        preview = head.lstrip()[:40].decode("utf-8", "replace")
        raise ModelFileError(
            f"model file {name} is not a joblib/pickle file: it starts like a text "
            f"document ({preview!r}) — probably an HTML or JSON error page"
        )
    if not head.startswith(_MAGIC):
        raise ModelFileError(
            f"model file {name} is not a joblib/pickle file (unknown header {head[:8]!r})"
        )


def estimator_kind(estimator: Any) -> str | None:
    """``"random_forest"`` / ``"xgboost"`` for supported estimators, else None."""
    cls = type(estimator)
    for kind, (module, name) in SUPPORTED.items():
        if cls.__name__ == name and cls.__module__.startswith(module):
            return kind
    return None


@contextlib.contextmanager
def _quiet_xgboost() -> Iterator[None]:
    """XGBoost's own logger prints a note for every file from an older version (to stderr,
    not as a Python warning); the version is reported by compat instead."""
    try:
        import xgboost
    except ImportError:  # pragma: no cover - xgboost is a dependency
        yield
        return
    with xgboost.config_context(verbosity=0):
        yield


def _unpickle(data: bytes, name: str) -> Any:
    try:
        with _UNPICKLE_LOCK, warnings.catch_warnings(), _quiet_xgboost():
            # the version a file records is read and reported by compat, not by these
            warnings.filterwarnings("ignore", message=r"(?s).*unpickle estimator")
            warnings.filterwarnings("ignore", message=r"(?s).*older version of XGBoost")
            return joblib.load(io.BytesIO(data))
    except (pickle.UnpicklingError, EOFError, ValueError, KeyError, IndexError) as exc:
        raise ModelFileError(
            f"model file {name} is corrupt or truncated: {type(exc).__name__}: {exc}"
        ) from exc
    except (ModuleNotFoundError, AttributeError, ImportError) as exc:
        raise ModelFileError(
            f"model file {name} needs code this service does not have: {exc}"
        ) from exc
    except Exception as exc:
        raise ModelFileError(
            f"model file {name} could not be loaded: {type(exc).__name__}: {exc}"
        ) from exc


def _verify_shape(estimator: Any, name: str, expected_type: str | None) -> str:
    kind = estimator_kind(estimator)
    if kind is None:
        cls = type(estimator)
        raise ModelFileError(
            f"model file {name} holds a {cls.__module__}.{cls.__qualname__}; only "
            "sklearn RandomForestClassifier and xgboost XGBClassifier are supported"
        )
    if expected_type is not None and kind != expected_type:
        raise ModelFileError(
            f"model file {name} holds a {type(estimator).__name__} but the model's "
            f"model_type is {expected_type!r}"
        )
    if not callable(getattr(estimator, "predict_proba", None)):
        raise ModelFileError(f"model file {name}: estimator has no predict_proba")
    n_features = getattr(estimator, "n_features_in_", None)
    if not isinstance(n_features, int) or n_features < 1:
        raise ModelFileError(f"model file {name}: estimator is not fitted (no n_features_in_)")
    classes = list(getattr(estimator, "classes_", []))
    if len(classes) != 2:
        raise ModelFileError(
            f"model file {name}: expected a binary classifier, got classes {classes}"
        )
    return kind


def load_file(
    path: Path,
    *,
    expected_type: str | None = None,
    sha256: str | None = None,
    label: str | None = None,
) -> LoadedFile:
    """Read, check the hash (if one is expected) and the library version, unpickle, adapt
    to this library version and verify; raise :class:`ModelFileError` with the reason.
    ``label`` names the file in messages (default: its file name)."""
    name = label or path.name
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise ModelFileError(
            f"model file {path} does not exist", code="model_file_missing"
        ) from exc
    except OSError as exc:
        raise ModelFileError(f"model file {name} cannot be read: {exc}") from exc
    digest = hashlib.sha256(data).hexdigest()
    if sha256 and digest != sha256:
        raise ModelFileError(
            f"model file {name} changed on disk: sha256 {digest[:12]}… is not the "
            f"{sha256[:12]}… recorded at import; it is not loaded (re-import the model)",
            code="model_file_changed",
        )
    _sniff(data[:64], name)
    library = compat.LIBRARY_OF_TYPE.get(expected_type or "")
    if library is not None and compat.recorded_version(data, library) is not None:
        compat.check_supported(data, library, name)  # refuse early, without unpickling
    estimator = _unpickle(data, name)
    kind = _verify_shape(estimator, name, expected_type)
    provenance = compat.check_supported(data, compat.LIBRARY_OF_TYPE[kind], name)
    return LoadedFile(estimator, compat.adapt(estimator, provenance), digest)


def load_estimator(path: Path, *, expected_type: str | None = None) -> Any:
    """The verified estimator alone (see :func:`load_file`)."""
    return load_file(path, expected_type=expected_type).estimator
