"""The training-side stand-in (``stand_ins/training_side.py``) against the serving reference.

``training_side.engineer_features`` is the training service's feature code, written
independently with ordinary pandas idioms (``groupby().rolling()`` etc.). Under our current
pandas it must equal ``create_pump_detection_features`` on messy histories. Window sums are
added in a different order (pandas' online algorithm vs newest-first), so values are compared
with rtol = atol = 1e-9, and threshold flags only where the value they threshold is not within
1e-9 of the threshold.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from numpy.typing import NDArray

from ml_prediction_service.features import (
    ATH_FEATURE_NAMES,
    ENGINEERING_INPUT_COLUMNS,
    create_pump_detection_features,
    get_engineered_feature_names,
)
from ml_prediction_service.stand_ins import training_side
from ml_prediction_service.stand_ins.simulator import METRIC_COLUMNS

TRAINING_SIDE = Path(training_side.__file__)
W = (5, 10, 15)
T0 = pd.Timestamp("2024-05-01T12:00:00Z")


def messy_history(seed: int, coins: int = 3, n: int = 90) -> pd.DataFrame:
    """Several coins, shuffled rows, equal timestamps, day-long gaps, NULL/0/±inf anywhere."""
    rng = np.random.default_rng(seed)
    parts = []
    for c in range(coins):
        gaps = rng.integers(0, 900, n)
        gaps[rng.random(n) < 0.03] = 90_000  # > 1440 minutes: old ATHs
        d = pd.DataFrame(
            {"mint": f"COIN{c}", "timestamp": T0 + pd.to_timedelta(np.cumsum(gaps), unit="s")}
        )
        for name in ENGINEERING_INPUT_COLUMNS:
            d[name] = rng.lognormal(0.0, 1.0, n)
        d["net_volume_sol"] = rng.normal(0.0, 1.0, n)
        d["unique_signer_ratio"] = rng.uniform(0.0, 0.4, n)
        d["price_high"] = d["price_close"] * (1 + rng.random(n) / 10)
        for name in ENGINEERING_INPUT_COLUMNS:
            for value, share in ((np.nan, 0.08), (0.0, 0.05), (np.inf, 0.02), (-np.inf, 0.02)):
                d.loc[rng.random(n) < share, name] = value
        parts.append(d)
    return pd.concat(parts).sample(frac=1.0, random_state=seed).reset_index(drop=True)


def _windowed(values: NDArray[np.float64], w: int, how: str) -> NDArray[np.float64]:
    """Plain loop: sum or mean of the finite values among the last ``w`` rows (NaN if none)."""
    out = np.full(len(values), np.nan)
    for i in range(len(values)):
        window = values[max(0, i - w + 1) : i + 1]
        usable = window[np.isfinite(window)]
        if len(usable):
            out[i] = usable.sum() if how == "sum" else usable.mean()
    return out


def _near(values: NDArray[np.float64], threshold: float | NDArray[np.float64]) -> NDArray[np.bool_]:
    with np.errstate(invalid="ignore"):
        gap = np.abs(values - threshold)
        return np.asarray(gap <= 1e-9 * np.maximum(1.0, np.abs(values)), dtype=bool)


_FLAGS = ("dev_sold_spike", "volatility_spike", "wash_trading_flag", "ath_approach")


def _flag_ambiguous(ref: pd.DataFrame) -> dict[str, NDArray[np.bool_]]:
    """Per threshold flag: rows whose underlying value is within 1e-9 of the threshold."""
    masks = {f"{flag}_{w}": np.zeros(len(ref), dtype=bool) for flag in _FLAGS for w in W}
    for rows in ref.groupby("mint", sort=False).indices.values():
        part = ref.iloc[rows]
        dev = part["dev_sold_amount"].fillna(0).to_numpy(np.float64)
        vol = part["volatility_pct"].to_numpy(np.float64)
        signers = part["unique_signer_ratio"].to_numpy(np.float64)
        for w in W:
            masks[f"dev_sold_spike_{w}"][rows] = _near(_windowed(dev, w, "sum"), 0.0)
            vol_ma = _windowed(vol, w, "mean")
            masks[f"volatility_spike_{w}"][rows] = _near(vol, 1.5 * vol_ma)
            masks[f"wash_trading_flag_{w}"][rows] = _near(_windowed(signers, w, "mean"), 0.15)
            trend = part[f"ath_distance_trend_{w}"].to_numpy(np.float64)
            previous = np.concatenate(([np.nan], trend[:-1]))
            masks[f"ath_approach_{w}"][rows] = _near(trend, previous)
    return masks


def test_feature_names_are_the_contract_order() -> None:
    for windows in (W, (2, 3), (7,)):
        names = training_side.engineered_feature_names(windows)
        assert names == get_engineered_feature_names(windows)
    assert len(training_side.engineered_feature_names(W)) == 60
    assert training_side.ATH_COLUMNS == ATH_FEATURE_NAMES
    assert training_side.COIN_METRICS_COLUMNS == METRIC_COLUMNS


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_engineer_features_equals_the_serving_reference(seed: int) -> None:
    history = messy_history(seed)
    ours = training_side.engineer_features(history, W)
    ref = create_pump_detection_features(history, W).reset_index(drop=True)
    assert (
        len(ours)
        == len(ref)
        == int(history[["price_close", "price_high", "volume_sol"]].notna().all(axis=1).sum())
    )
    assert ours["mint"].tolist() == ref["mint"].tolist()
    assert (ours["timestamp"] == pd.to_datetime(ref["timestamp"], utc=True)).all()
    names = list(ATH_FEATURE_NAMES) + get_engineered_feature_names(W)
    assert list(ours.columns[-len(names) :]) == names
    ambiguous = _flag_ambiguous(ref)
    compared_flags = 0
    for name in names:
        got = ours[name].to_numpy(np.float64)
        want = ref[name].to_numpy(np.float64)
        assert np.isfinite(got).all(), name
        keep = ~ambiguous.get(name, np.zeros(len(ref), dtype=bool))
        np.testing.assert_allclose(got[keep], want[keep], rtol=1e-9, atol=1e-9, err_msg=name)
        compared_flags += name in ambiguous
    assert compared_flags == 4 * len(W)  # the threshold flags were checked (where clear)
    # the histories exercise what they are meant to
    assert ref["ath_is_old"].any() and ref["ath_breakout"].any()
    assert (ref["volume_flip_5"] == 1).any() and (ref["wash_trading_flag_5"] == 1).any()


def _one_coin(**columns: list[float | None]) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    data: dict[str, object] = {
        "mint": ["COIN"] * n,
        "timestamp": [T0 + pd.Timedelta(minutes=i) for i in range(n)],
    }
    for name in ENGINEERING_INPUT_COLUMNS:
        values = columns.get(name, [1.0] * n)
        data[name] = [math.nan if v is None else v for v in values]
    return pd.DataFrame(data)


def test_mcap_velocity_is_percent_with_zero_and_null_divisors() -> None:
    mcaps: list[float | None] = [100.0, 150.0, 300.0, 0.0, 50.0, None, 80.0]
    out = training_side.engineer_features(_one_coin(market_cap_close=mcaps), (1, 2))
    assert out["mcap_velocity_1"].tolist() == [0.0, 50.0, 100.0, -100.0, 0.0, 0.0, 0.0]
    # w=2: 300 vs 100 -> 200 %; 0 vs 150 -> -100 %; 50 vs 300; NULL; 80 vs 50 -> 60 %
    assert out["mcap_velocity_2"].tolist() == pytest.approx(
        [0.0, 0.0, 200.0, -100.0, (50 - 300) / 300 * 100, 0.0, 60.0], rel=1e-15
    )


def test_minutes_since_ath_quirk_and_price_change() -> None:
    history = _one_coin(price_high=[1.0, 1.0, 1.0, 2.0, 2.0], price_close=[1.0, 1.0, 2.0, 2.0, 3.0])
    out = training_side.engineer_features(history, (2,))
    # first breakout on row 3: rows before it get 0 (and their flags 0), not minutes since row 0
    assert out["minutes_since_ath"].tolist() == [0.0, 0.0, 0.0, 0.0, 1.0]
    assert out["ath_is_recent"].tolist() == [0.0, 0.0, 0.0, 1.0, 1.0]
    assert out["ath_age_trend_2"].tolist() == [0.0, 0.0, 0.0, 0.0, 0.5]
    assert out["price_change_2"].tolist() == [0.0, 0.0, 100.0, 100.0, 50.0]
    no_breakout = training_side.engineer_features(history.iloc[:3], (2,))
    assert no_breakout["minutes_since_ath"].tolist() == [0.0, 1.0, 2.0]
    assert no_breakout["ath_is_recent"].tolist() == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("model_type", ["random_forest", "xgboost"])
def test_train_cli_writes_a_loadable_model_and_result(tmp_path: Path, model_type: str) -> None:
    rng = np.random.default_rng(5)
    frames = []
    for c in range(2):
        n = 30
        d = pd.DataFrame(
            {
                "mint": f"CSVCOIN{c}",
                "timestamp": [(T0 + pd.Timedelta(seconds=5 * i)).isoformat() for i in range(n)],
            }
        )
        for name in METRIC_COLUMNS:
            d[name] = np.round(rng.lognormal(0.0, 1.0, n), 6)
        d["is_koth"] = rng.random(n) < 0.3
        d["phase_id_at_time"] = 1
        d.loc[3, "volatility_pct"] = np.nan
        d.loc[7, "price_close"] = np.nan  # not part of the history (a train row: dropped)
        d["label"] = (np.arange(n) % 3 == 0).astype(float)
        d.loc[6, "label"] = np.nan  # a train row without a label: not used
        d["split"] = ["test" if i % 4 == 1 else "train" for i in range(n)]
        frames.append(d)
    csv = pd.concat(frames).sample(frac=1.0, random_state=1).reset_index(drop=True)
    csv["csv_order"] = np.arange(len(csv))  # an extra column travels with its row
    csv.to_csv(tmp_path / "history.csv", index=False)
    inputs = ["volume_sol", "is_koth", "rolling_ath", "price_change_5", "volume_spike_10"]
    params = {"n_estimators": 3, "max_depth": 2, "random_state": 1}
    spec = {"model_type": model_type, "params": params, "inputs": inputs, "windows": [5, 10, 15]}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    done = subprocess.run(
        [
            sys.executable,
            str(TRAINING_SIDE),
            "train",
            "--input",
            str(tmp_path / "history.csv"),
            "--spec",
            str(tmp_path / "spec.json"),
            "--model-out",
            str(tmp_path / "model.joblib"),
            "--result",
            str(tmp_path / "result.json"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / "result.json").read_text())
    model = joblib.load(tmp_path / "model.joblib")
    assert model.n_features_in_ == len(inputs)
    assert not hasattr(model, "feature_names_in_")  # fit on a plain numpy matrix
    assert result["rows_test"] == int((csv["split"] == "test").sum()) == 16
    assert result["rows_train"] == 2 * (30 - 8 - 1 - 1)  # minus test, NULL price, NULL label
    assert len(result["test_proba"]) == 16
    assert len(result["feature_importances"]) == len(inputs)
    assert set(result["libraries"]) == {
        "python",
        "scikit-learn",
        "xgboost",
        "numpy",
        "pandas",
        "joblib",
    }
    # the probabilities are the model's own, for the test rows in CSV order
    engineered = training_side.engineer_features(csv, W)
    test = engineered.loc[engineered["split"] == "test"].sort_values("csv_order")
    want = model.predict_proba(training_side.feature_matrix(test, inputs))[:, 1]
    np.testing.assert_allclose(result["test_proba"], want, rtol=0, atol=0)
