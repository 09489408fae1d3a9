"""Model files written by other library versions than the ones installed here.

The training service pins its own versions (scikit-learn 1.3.2, xgboost 2.0.2); its files are
pickles made by those. A pickle loaded by a newer library can import cleanly and still compute
something else. This module

* reads the library version a file records, from its bytes, before anything is unpickled
  (scikit-learn: the ``_sklearn_version`` every estimator pickles; xgboost: the ``version``
  of the booster's own serialised model);
* refuses files outside the supported range with a message that names the library, the
  file's version and the range (``SUPPORTED_SINCE`` up to the installed minor version);
* adapts a loaded estimator where a format change alters what it computes:

  - scikit-learn < 1.4.1 stored weighted class **counts** in ``tree_.value``; 1.4.1 and later
    store **fractions** and no longer divide by the row sum in ``predict_proba``. A forest
    from 1.3.2 served by 1.9 therefore returns sums of counts (e.g. 200.2) instead of
    probabilities. Dividing each node's values by their sum is exactly the division 1.3.2
    did at prediction time, so the adapted forest returns the original probabilities;
  - constructor parameters added after the file was written (scikit-learn ``monotonic_cst``,
    xgboost ``feature_weights``) are missing from the pickled object, so ``get_params`` and
    ``set_params`` raise. They only matter for fitting: they are set to their defaults.

See docs/models.md, "Library versions".
"""

from __future__ import annotations

import bz2
import gzip
import inspect
import lzma
import re
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ml_prediction_service.models.errors import ModelFileError

SKLEARN = "scikit-learn"
XGBOOST = "xgboost"
LIBRARY_OF_TYPE = {"random_forest": SKLEARN, "xgboost": XGBOOST}
SUPPORTED_SINCE: dict[str, tuple[int, int, int]] = {SKLEARN: (1, 3, 0), XGBOOST: (2, 0, 0)}
SKLEARN_FRACTION_VALUES_SINCE = (1, 4, 1)

Version = tuple[int, int, int]


def parse_version(text: str) -> Version | None:
    """``"1.3.2"`` → (1, 3, 2); suffixes like ``.post1``/``rc1`` are ignored."""
    match = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", text.strip())
    if match is None:
        return None
    return (int(match[1]), int(match[2]), int(match[3] or 0))


def installed_version(library: str) -> str:
    if library == SKLEARN:
        import sklearn

        return str(sklearn.__version__)
    import xgboost

    return str(xgboost.__version__)


@dataclass(frozen=True)
class Provenance:
    """Which library wrote a model file, which version, and what serving it here needed."""

    library: str
    file_version: str
    installed_version: str
    adjustments: tuple[str, ...] = field(default=())

    def with_adjustments(self, adjustments: list[str]) -> Provenance:
        return Provenance(
            self.library, self.file_version, self.installed_version, tuple(adjustments)
        )


# ----------------------------------------------------------------- versions, from the bytes


def _decompressed(data: bytes) -> bytes:
    """The pickle stream of a joblib file (joblib compresses the whole stream, if at all)."""
    if data.startswith(b"\x78"):
        return zlib.decompress(data)
    if data.startswith(b"\x1f\x8b"):
        return gzip.decompress(data)
    if data.startswith(b"BZh"):
        return bz2.decompress(data)
    if data.startswith(b"\xfd7zXZ"):
        return lzma.decompress(data, format=lzma.FORMAT_XZ)
    if data.startswith(b"\x5d\x00\x00"):
        return lzma.decompress(data, format=lzma.FORMAT_ALONE)
    return data


# pickle opcodes: memo puts that may follow a string, and string opcodes with their length size
_MEMO_PUT = {0x94: 0, ord("q"): 1, ord("r"): 4}
_STRING = {0x8C: 1, ord("X"): 4, 0x8D: 8, ord("U"): 1, ord("T"): 4}


def _pickled_string_at(data: bytes, pos: int) -> str | None:
    """The string a pickle pushes at ``pos`` (after optional memo puts), or None."""
    for _ in range(2):
        if pos < len(data) and data[pos] in _MEMO_PUT:
            pos += 1 + _MEMO_PUT[data[pos]]
    if pos >= len(data) or data[pos] not in _STRING:
        return None
    width = _STRING[data[pos]]
    length = int.from_bytes(data[pos + 1 : pos + 1 + width], "little")
    start = pos + 1 + width
    if length > 64:
        return None
    return data[start : start + length].decode("utf-8", "replace")


def _sklearn_version(stream: bytes) -> str | None:
    key = b"_sklearn_version"
    for match in re.finditer(re.escape(key), stream):
        value = _pickled_string_at(stream, match.end())
        if value is not None and parse_version(value) is not None:
            return value
    return None


_UBJ_INT = {ord("i"): (1, "b"), ord("U"): (1, "B"), ord("I"): (2, ">h"), ord("l"): (4, ">i")}
_UBJ_INT[ord("L")] = (8, ">q")
# the key "version" (length 7 as any UBJSON integer type) followed by an array
_UBJ_VERSION_KEY = re.compile(rb"(?:[iU]\x07|I\x00\x07|l\x00{3}\x07|L\x00{7}\x07)version\[")


def _ubjson_ints(stream: bytes, pos: int, count: int, typ: int | None) -> list[int] | None:
    out: list[int] = []
    for _ in range(count):
        marker = typ
        if marker is None:
            marker = stream[pos]
            pos += 1
        if marker not in _UBJ_INT:
            return None
        size, fmt = _UBJ_INT[marker]
        out.append(int(struct.unpack(fmt, stream[pos : pos + size])[0]))
        pos += size
    return out


def _xgboost_version(stream: bytes) -> str | None:
    """``version`` of a booster serialised as UBJSON (xgboost ≥ 1.6 pickles) or JSON."""
    for match in _UBJ_VERSION_KEY.finditer(stream):
        pos = match.end()
        typ: int | None = None
        if stream[pos : pos + 1] == b"$":
            typ, pos = stream[pos + 1], pos + 2
        if stream[pos : pos + 1] != b"#":
            continue
        counted = _ubjson_ints(stream, pos + 1, 1, None)
        if not counted or counted[0] != 3:
            continue
        size = _UBJ_INT.get(stream[pos + 1], (0, ""))[0]
        parts = _ubjson_ints(stream, pos + 2 + size, 3, typ)
        if parts is not None:
            return ".".join(str(p) for p in parts)
    text = re.search(rb'"version"\s*:\s*\[\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*\]', stream)
    if text is not None:
        return ".".join(g.decode() for g in text.groups())
    return None


def recorded_version(data: bytes, library: str) -> str | None:
    """The version of ``library`` that wrote this joblib file, read without unpickling."""
    try:
        stream = _decompressed(data)
    except (OSError, zlib.error, lzma.LZMAError, EOFError, ValueError):
        return None
    return _sklearn_version(stream) if library == SKLEARN else _xgboost_version(stream)


def check_supported(data: bytes, library: str, name: str) -> Provenance:
    """The file's provenance, or :class:`ModelFileError` if it cannot be served faithfully."""
    model_type = next(t for t, lib in LIBRARY_OF_TYPE.items() if lib == library)
    installed = installed_version(library)
    low = SUPPORTED_SINCE[library]
    have = parse_version(installed) or (0, 0, 0)
    supported = f"{library} {'.'.join(map(str, low))} to {have[0]}.{have[1]}.x"
    recorded = recorded_version(data, library)
    if recorded is None:
        raise ModelFileError(
            f"model file {name} records no {library} version that this service can read; "
            f"it serves {model_type} files written by {supported} (installed {installed})",
            code="unsupported_library_version",
        )
    version = parse_version(recorded)
    assert version is not None
    if version < low or version[:2] > have[:2]:
        raise ModelFileError(
            f"model file {name} was written by {library} {recorded}; this service serves "
            f"{model_type} files written by {supported} (installed {installed})",
            code="unsupported_library_version",
        )
    return Provenance(library, recorded, installed)


# ---------------------------------------------------------------------------- adaptation


def _constructor_defaults(obj: Any) -> dict[str, Any]:
    """Parameters with defaults of every ``__init__`` in the class hierarchy."""
    defaults: dict[str, Any] = {}
    for cls in reversed(type(obj).__mro__):
        init = cls.__dict__.get("__init__")
        if init is None or cls is object:
            continue
        try:
            parameters = inspect.signature(init).parameters.values()
        except (TypeError, ValueError):
            continue
        for p in parameters:
            if p.name != "self" and p.default is not inspect.Parameter.empty:
                defaults[p.name] = p.default
    return defaults


def _fill_missing_parameters(objects: list[Any]) -> list[str]:
    added: set[str] = set()
    for obj in objects:
        for name, default in _constructor_defaults(obj).items():
            if name not in vars(obj):
                setattr(obj, name, default)
                added.add(name)
    return sorted(added)


def _normalise_tree_values(estimators: list[Any]) -> None:
    """Weighted class counts → fractions, node by node (what predict_proba divided by
    before scikit-learn 1.4.1); a node without weight keeps its zeros."""
    for tree_estimator in estimators:
        tree = tree_estimator.tree_
        state = tree.__getstate__()
        values = np.asarray(state["values"], dtype=np.float64)
        sums = values.sum(axis=-1, keepdims=True)
        sums[sums == 0.0] = 1.0
        state["values"] = values / sums
        tree.__setstate__(state)


def adapt(estimator: Any, provenance: Provenance) -> Provenance:
    """Make a loaded estimator compute what it computed in the version that wrote it."""
    notes: list[str] = []
    file_version = parse_version(provenance.file_version) or (0, 0, 0)
    if provenance.library == SKLEARN:
        trees = list(getattr(estimator, "estimators_", []))
        templates = [
            t for t in (getattr(estimator, "estimator", None),) if hasattr(t, "get_params")
        ]
        added = _fill_missing_parameters([estimator, *templates, *trees])
        if added:
            notes.append(f"constructor parameters newer than the file set to defaults: {added}")
        if file_version < SKLEARN_FRACTION_VALUES_SINCE:
            _normalise_tree_values(trees)
            notes.append(
                "tree node values converted from weighted class counts "
                "(scikit-learn < 1.4.1) to fractions"
            )
    else:
        added = _fill_missing_parameters([estimator])
        if added:
            notes.append(f"constructor parameters newer than the file set to defaults: {added}")
    return provenance.with_adjustments(notes)
