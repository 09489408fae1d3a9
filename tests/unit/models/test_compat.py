"""Reading the library version a model file records, and refusing what cannot be served."""

from __future__ import annotations

import re
from pathlib import Path

import joblib
import numpy as np
import pytest
import sklearn
import xgboost
from sklearn.ensemble import RandomForestClassifier
from xgboost import XGBClassifier

from ml_prediction_service.models import compat
from ml_prediction_service.models.errors import ModelFileError
from ml_prediction_service.models.loader import load_file


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 4))
    return x, (x[:, 0] > 0).astype(int)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("compat")
    x, y = _data()
    rf = RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0).fit(x, y)
    xgb = XGBClassifier(n_estimators=3, max_depth=2, n_jobs=1).fit(x, y)
    out = {"rf": folder / "rf.joblib", "xgb": folder / "xgb.joblib"}
    joblib.dump(rf, out["rf"])
    joblib.dump(xgb, out["xgb"])
    out["rf_zlib"] = folder / "rf_zlib.joblib"
    joblib.dump(rf, out["rf_zlib"], compress=3)
    out["xgb_xz"] = folder / "xgb.joblib.xz"
    joblib.dump(xgb, out["xgb_xz"], compress=("xz", 3))
    return out


@pytest.mark.parametrize(
    ("key", "library", "installed"),
    [
        ("rf", compat.SKLEARN, sklearn.__version__),
        ("rf_zlib", compat.SKLEARN, sklearn.__version__),
        ("xgb", compat.XGBOOST, xgboost.__version__),
        ("xgb_xz", compat.XGBOOST, xgboost.__version__),
    ],
)
def test_the_recorded_version_is_read_from_the_bytes(
    files: dict[str, Path], key: str, library: str, installed: str
) -> None:
    version = compat.recorded_version(files[key].read_bytes(), library)
    assert version is not None
    assert compat.parse_version(version) == compat.parse_version(installed)


def _retag(data: bytes, old: bytes, new: bytes) -> bytes:
    assert len(old) == len(new) and data.count(old) >= 1
    return data.replace(old, new)


def test_a_scikit_learn_file_older_than_supported_is_refused(
    files: dict[str, Path], tmp_path: Path
) -> None:
    data = files["rf"].read_bytes()
    current = sklearn.__version__.encode()
    old = b"1.2.2" + b"." * (len(current) - 5) if len(current) > 5 else b"1.2.2"
    path = tmp_path / "old.joblib"
    path.write_bytes(_retag(data, current, old[: len(current)]))
    with pytest.raises(ModelFileError) as info:
        load_file(path, expected_type="random_forest")
    assert info.value.code == "unsupported_library_version"
    message = info.value.message
    assert "scikit-learn 1.2.2" in message and "1.3.0 to" in message and "installed" in message


def test_an_xgboost_file_newer_than_installed_is_refused(
    files: dict[str, Path], tmp_path: Path
) -> None:
    data = files["xgb"].read_bytes()
    major, minor, patch = compat.parse_version(xgboost.__version__) or (0, 0, 0)
    ints = bytes([ord("i"), major, ord("i"), minor, ord("i"), patch])
    newer = bytes([ord("i"), major, ord("i"), minor + 1, ord("i"), patch])
    path = tmp_path / "newer.joblib"
    path.write_bytes(
        _retag(
            data,
            b"version[#L" + bytes(7) + b"\x03" + ints,
            b"version[#L" + bytes(7) + b"\x03" + newer,
        )
    )
    with pytest.raises(ModelFileError) as info:
        load_file(path, expected_type="xgboost")
    assert info.value.code == "unsupported_library_version"
    assert re.search(rf"xgboost {major}\.{minor + 1}\.{patch}", info.value.message)
    assert "2.0.0 to" in info.value.message


def test_a_file_without_a_readable_version_is_refused(tmp_path: Path) -> None:
    x, y = _data()
    path = tmp_path / "noversion.joblib"
    joblib.dump(RandomForestClassifier(n_estimators=2).fit(x, y), path)
    data = path.read_bytes().replace(b"_sklearn_version", b"_sklearn_vXrsion")
    path.write_bytes(data)
    with pytest.raises(ModelFileError) as info:
        load_file(path, expected_type="random_forest")
    assert "records no scikit-learn version" in info.value.message


def test_files_of_this_version_load_unchanged(files: dict[str, Path]) -> None:
    loaded = load_file(files["rf"], expected_type="random_forest")
    assert loaded.provenance.file_version == sklearn.__version__
    assert loaded.provenance.adjustments == ()
    loaded = load_file(files["xgb_xz"], expected_type="xgboost")
    assert compat.parse_version(loaded.provenance.file_version) == compat.parse_version(
        xgboost.__version__
    )
    assert loaded.provenance.adjustments == ()


def test_a_file_with_another_hash_than_expected_is_not_loaded(files: dict[str, Path]) -> None:
    with pytest.raises(ModelFileError) as info:
        load_file(files["rf"], sha256="0" * 64)
    assert info.value.code == "model_file_changed"
