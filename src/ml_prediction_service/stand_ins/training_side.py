"""The training service's side of the feature contract, runnable under its pinned libraries.

**Standalone**: imports only the standard library, numpy, pandas, scikit-learn, xgboost and
joblib (never ``ml_prediction_service``), because it runs as a plain script under the
interpreter of a separate virtualenv with the training service's versions
(``stand_ins/training_env.py``)::

    <python> training_side.py train --input history.csv --spec spec.json \
        --model-out model.joblib --result result.json
    <python> training_side.py fixtures --input histories.json --out DIR
    <python> training_side.py engineer --input history.csv --windows 5 10 15 --out features.csv
    <python> training_side.py predict --model model.joblib --rows rows.json --out proba.json

The feature engineering (:func:`engineer_features`) is written independently of this
project's own implementation (``features/reference.py``, ``features/batch.py``), the way a
data scientist writes it: ``groupby('mint')``, ``rolling(w, min_periods=1)``, ``shift``,
``cummax``, ``cumsum``, ``ffill`` and ``replace([inf, -inf], nan).fillna(0)`` at the end,
following contract §5 literally. It works under pandas 2.1.3 / numpy 1.26 and under
pandas 3 / numpy 2 (no ``fillna(method=...)``, no ``pct_change`` fill defaults, no chained
assignment).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

FloatMatrix = NDArray[np.float64]

# contract §1: coin_metrics columns after (mint, timestamp), in table order.
COIN_METRICS_COLUMNS: tuple[str, ...] = (
    "phase_id_at_time",
    "price_open",
    "price_high",
    "price_low",
    "price_close",
    "market_cap_close",
    "bonding_curve_pct",
    "virtual_sol_reserves",
    "is_koth",
    "volume_sol",
    "buy_volume_sol",
    "sell_volume_sol",
    "num_buys",
    "num_sells",
    "unique_wallets",
    "num_micro_trades",
    "dev_sold_amount",
    "max_single_buy_sol",
    "max_single_sell_sol",
    "net_volume_sol",
    "volatility_pct",
    "avg_trade_size_sol",
    "whale_buy_volume_sol",
    "whale_sell_volume_sol",
    "num_whale_buys",
    "num_whale_sells",
    "buy_pressure_ratio",
    "unique_signer_ratio",
)
HISTORY_KEYS: tuple[str, ...] = ("price_close", "price_high", "volume_sol")
ZERO_FILLED: tuple[str, ...] = (
    "dev_sold_amount",
    "buy_pressure_ratio",
    "whale_buy_volume_sol",
    "whale_sell_volume_sol",
)
NULL_KEEPING: tuple[str, ...] = (
    "volatility_pct",
    "unique_signer_ratio",
    "net_volume_sol",
    "market_cap_close",
)
ENGINEERING_INPUTS: tuple[str, ...] = HISTORY_KEYS + ZERO_FILLED + NULL_KEEPING
ATH_COLUMNS: tuple[str, ...] = (
    "rolling_ath",
    "ath_distance_pct",
    "ath_breakout",
    "minutes_since_ath",
    "ath_age_hours",
    "ath_is_recent",
    "ath_is_old",
)
DEFAULT_WINDOWS: tuple[int, ...] = (5, 10, 15)
MODEL_TYPES: tuple[str, ...] = ("random_forest", "xgboost")


def engineered_feature_names(windows: Sequence[int] = DEFAULT_WINDOWS) -> list[str]:
    """contract §5 names in contract order (60 for three windows)."""
    ws = [int(w) for w in windows]
    names = ["dev_sold_flag", "dev_sold_cumsum"] + [f"dev_sold_spike_{w}" for w in ws]
    for w in ws:
        names += [f"buy_pressure_ma_{w}", f"buy_pressure_trend_{w}"]
    names += ["whale_net_volume"] + [f"whale_activity_{w}" for w in ws]
    for w in ws:
        names += [f"volatility_ma_{w}", f"volatility_spike_{w}"]
    names += [f"wash_trading_flag_{w}" for w in ws]
    for w in ws:
        names += [f"net_volume_ma_{w}", f"volume_flip_{w}"]
    for w in ws:
        names += [f"price_change_{w}", f"price_roc_{w}"]
    for w in ws:
        names += [f"volume_ratio_{w}", f"volume_spike_{w}"]
    names += [f"mcap_velocity_{w}" for w in ws]
    for w in ws:
        names += [
            f"ath_distance_trend_{w}",
            f"ath_approach_{w}",
            f"ath_breakout_count_{w}",
            f"ath_breakout_volume_ma_{w}",
            f"ath_age_trend_{w}",
        ]
    return names


# ------------------------------------------------------------------------ feature engineering


def _numeric(series: pd.Series) -> pd.Series:
    """A column as float64: bools (also 'True'/'False' text) as 1/0, empty as NaN."""
    if not pd.api.types.is_numeric_dtype(series.dtype):
        series = series.map(
            lambda v: {"true": 1.0, "false": 0.0}.get(v.lower(), v) if isinstance(v, str) else v
        )
    return pd.to_numeric(series).astype("float64")


def engineer_features(
    history: pd.DataFrame, windows: Sequence[int] = DEFAULT_WINDOWS
) -> pd.DataFrame:
    """The training service's features for every row of every coin's history.

    ``history``: ``mint``, ``timestamp`` and (at least) the 11 engineering inputs. Rows with a
    NULL ``price_close``, ``price_high`` or ``volume_sol`` are dropped first; the rest are
    sorted by (mint, timestamp) and get a fresh 0..n-1 index. Returns the kept rows with
    their raw columns (engineering inputs as float64), then the 7 ATH columns and the
    engineered columns in contract order, all float64 with NaN/±inf replaced by 0.
    """
    ws = [int(w) for w in windows]
    df = history.copy()
    df["timestamp"] = pd.to_datetime(df["timestamp"], utc=True)
    for col in ENGINEERING_INPUTS:
        df[col] = _numeric(df[col])
    df = df.dropna(subset=list(HISTORY_KEYS))
    df = df.sort_values(["mint", "timestamp"], kind="mergesort").reset_index(drop=True)
    mint = df["mint"]

    def by_coin(s: pd.Series) -> Any:
        return s.groupby(mint, sort=False)

    def roll(s: pd.Series, w: int, how: str) -> pd.Series:
        r = getattr(by_coin(s).rolling(w, min_periods=1), how)()
        out: pd.Series = r.reset_index(level=0, drop=True)
        return out

    f: dict[str, pd.Series] = {}

    # ATH (whole history)
    high, close, ts = df["price_high"], df["price_close"], df["timestamp"]
    ath: pd.Series = by_coin(high).cummax()
    breakout = (high > by_coin(ath).shift(1)).astype("int64")
    last_breakout_ts = by_coin(ts.where(breakout == 1)).ffill()
    minutes = (ts - last_breakout_ts).dt.total_seconds() / 60
    coin_has_breakout = by_coin(breakout).transform("max") > 0
    since_first = (ts - by_coin(ts).transform("first")).dt.total_seconds() / 60
    # a coin that never broke out counts from its first row; in a coin that did, the rows
    # before its first breakout stay NaN here (-> flags 0, then minutes 0: the quirk)
    minutes = minutes.where(coin_has_breakout, since_first)
    age_hours = minutes / 60
    f["rolling_ath"] = ath
    f["ath_distance_pct"] = ((ath - close) / ath * 100).where(ath != 0, 0.0)
    f["ath_breakout"] = breakout
    f["ath_is_recent"] = (minutes < 60).astype("int64")
    f["ath_is_old"] = (minutes > 1440).astype("int64")
    f["minutes_since_ath"] = minutes.fillna(0)
    f["ath_age_hours"] = age_hours.fillna(0)

    dev = df["dev_sold_amount"].fillna(0)
    pressure = df["buy_pressure_ratio"].fillna(0)
    whale_buy = df["whale_buy_volume_sol"].fillna(0)
    whale_sell = df["whale_sell_volume_sol"].fillna(0)
    volatility = df["volatility_pct"]
    signers = df["unique_signer_ratio"]
    net = df["net_volume_sol"]
    mcap = df["market_cap_close"]
    volume = df["volume_sol"]

    f["dev_sold_flag"] = (dev > 0).astype("int64")
    f["dev_sold_cumsum"] = by_coin(dev).cumsum()
    for w in ws:
        f[f"dev_sold_spike_{w}"] = (roll(dev, w, "sum") > 0).astype("int64")
    for w in ws:
        f[f"buy_pressure_ma_{w}"] = roll(pressure, w, "mean")
        f[f"buy_pressure_trend_{w}"] = pressure - f[f"buy_pressure_ma_{w}"]
    f["whale_net_volume"] = whale_buy - whale_sell
    for w in ws:
        f[f"whale_activity_{w}"] = roll(whale_buy, w, "sum") + roll(whale_sell, w, "sum")
    for w in ws:
        f[f"volatility_ma_{w}"] = roll(volatility, w, "mean")
        f[f"volatility_spike_{w}"] = (volatility > 1.5 * f[f"volatility_ma_{w}"]).astype("int64")
    for w in ws:
        f[f"wash_trading_flag_{w}"] = (roll(signers, w, "mean") < 0.15).astype("int64")
    buying = (net > 0).astype("int64")
    flip = (by_coin(buying).diff().abs() == 1).astype("int64")  # first row: NaN -> 0
    for w in ws:
        f[f"net_volume_ma_{w}"] = roll(net, w, "mean")
        f[f"volume_flip_{w}"] = flip
    for w in ws:
        change = (close / by_coin(close).shift(w) - 1) * 100  # pct_change(w) * 100
        f[f"price_change_{w}"] = change
        f[f"price_roc_{w}"] = change
    for w in ws:
        mean = roll(volume, w, "mean")
        f[f"volume_ratio_{w}"] = volume / mean
        f[f"volume_spike_{w}"] = (volume - mean) / roll(volume, w, "std")
    for w in ws:
        earlier = by_coin(mcap).shift(w).replace(0, np.nan)
        f[f"mcap_velocity_{w}"] = (mcap - earlier) / earlier * 100
    breakout_volume = breakout * volume
    for w in ws:
        trend = roll(f["ath_distance_pct"], w, "mean")
        f[f"ath_distance_trend_{w}"] = trend
        f[f"ath_approach_{w}"] = (trend < by_coin(trend).shift(1)).astype("int64")
        f[f"ath_breakout_count_{w}"] = roll(breakout, w, "sum")
        f[f"ath_breakout_volume_ma_{w}"] = roll(breakout_volume, w, "mean")
        f[f"ath_age_trend_{w}"] = roll(f["minutes_since_ath"], w, "mean")

    names = list(ATH_COLUMNS) + engineered_feature_names(ws)
    added = pd.DataFrame({name: f[name] for name in names}, index=df.index)
    added = added.astype("float64").replace([np.inf, -np.inf], np.nan).fillna(0)
    raw = df.drop(columns=[c for c in names if c in df.columns])
    return pd.concat([raw, added], axis=1)


# ---------------------------------------------------------------------------------- training


def feature_matrix(frame: pd.DataFrame, inputs: Sequence[str]) -> FloatMatrix:
    """The columns ``inputs`` of ``frame`` in that order as float64, NaN/±inf -> 0."""
    missing = [c for c in inputs if c not in frame.columns]
    if missing:
        raise ValueError(f"unknown feature names: {missing}")
    columns = [_numeric(frame[c]).to_numpy(dtype=np.float64) for c in inputs]
    x = np.column_stack(columns) if columns else np.zeros((len(frame), 0))
    return np.asarray(np.where(np.isfinite(x), x, 0.0), dtype=np.float64)


def make_estimator(model_type: str, params: Mapping[str, Any]) -> Any:
    """A bare, single-threaded estimator (``random_state`` defaults to 0)."""
    kwargs = {"random_state": 0, **params, "n_jobs": 1}
    if model_type == "random_forest":
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier(**kwargs)
    if model_type == "xgboost":
        from xgboost import XGBClassifier

        return XGBClassifier(**kwargs)
    raise ValueError(f"unsupported model_type {model_type!r} (random_forest, xgboost)")


def train(
    frame: pd.DataFrame,
    labels: Sequence[float] | NDArray[Any] | pd.Series,
    inputs: Sequence[str],
    model_type: str,
    params: Mapping[str, Any],
) -> Any:
    """Fit on a plain float64 matrix of ``frame[inputs]`` (no feature names), labels 0/1."""
    x = feature_matrix(frame, inputs)
    y = np.asarray(labels, dtype=np.float64)
    if len(y) != len(x) or not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("labels must be 0/1, one per row")
    estimator = make_estimator(model_type, params)
    estimator.fit(x, y.astype(np.int64))
    return estimator


def library_versions() -> dict[str, str]:
    """Versions of this interpreter's libraries."""
    import joblib
    import sklearn
    import xgboost

    return {
        "python": platform.python_version(),
        "scikit-learn": str(sklearn.__version__),
        "xgboost": str(xgboost.__version__),
        "numpy": str(np.__version__),
        "pandas": str(pd.__version__),
        "joblib": str(joblib.__version__),
    }


def _dump(estimator: Any, path: Path) -> None:
    import joblib

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    joblib.dump(estimator, tmp)
    os.replace(tmp, path)


def _write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _read_csv(path: Path) -> pd.DataFrame:
    """Floats read exactly: ``float_precision="round_trip"`` where pandas still has the
    option (from pandas 3.1 every mode uses one exact converter and the option warns)."""
    exact: dict[str, Any] = {}
    if tuple(int(p) for p in re.findall(r"\d+", pd.__version__)[:2]) < (3, 1):
        exact["float_precision"] = "round_trip"
    frame: pd.DataFrame = pd.read_csv(
        path, dtype={"mint": str, "split": str, "timestamp": str}, **exact
    )
    return frame


# ------------------------------------------------------------------------------- `train`


def train_from_csv(
    csv_path: Path, spec: Mapping[str, Any], model_out: Path, result_path: Path
) -> dict[str, Any]:
    """The ``train`` command: fit on ``split == train`` rows, score ``split == test`` rows."""
    raw = _read_csv(csv_path)
    raw["_csv_row"] = np.arange(len(raw))
    inputs = [str(n) for n in spec["inputs"]]
    frame = engineer_features(raw, spec.get("windows", DEFAULT_WINDOWS))
    split = frame["split"] if "split" in frame.columns else pd.Series("", index=frame.index)
    label = (
        _numeric(frame["label"])
        if "label" in frame.columns
        else pd.Series(np.nan, index=frame.index, dtype="float64")
    )
    raw_split = raw["split"] if "split" in raw.columns else pd.Series("", index=raw.index)
    test = frame.loc[split == "test"].sort_values("_csv_row")
    if len(test) != int((raw_split == "test").sum()):
        dropped = sorted(set(np.flatnonzero(raw_split == "test")) - set(test["_csv_row"]))
        raise ValueError(
            f"CSV rows {dropped} have split=test but are not part of a coin's history "
            "(NULL price_close, price_high or volume_sol)"
        )
    fit_rows = (split == "train") & label.notna()
    estimator = train(
        frame.loc[fit_rows],
        label.loc[fit_rows].to_numpy(),
        inputs,
        str(spec["model_type"]),
        dict(spec.get("params", {})),
    )
    proba: list[float] = []
    if len(test):
        proba = [float(p) for p in estimator.predict_proba(feature_matrix(test, inputs))[:, 1]]
    _dump(estimator, model_out)
    result: dict[str, Any] = {
        "libraries": library_versions(),
        "test_proba": proba,
        "feature_importances": [float(v) for v in estimator.feature_importances_],
        "rows_train": int(fit_rows.sum()),
        "rows_test": len(test),
    }
    _write_json(result_path, result)
    return result


# ---------------------------------------------------------------------------- `fixtures`


def coins_frame(coins: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """``[{"mint", "rows": [{"timestamp", column: value|null}], "labels"?}]`` as one frame."""
    parts = []
    for coin in coins:
        part = pd.DataFrame(list(coin["rows"]))
        part.insert(0, "mint", str(coin["mint"]))
        if "labels" in coin:
            part["label"] = [np.nan if v is None else float(v) for v in coin["labels"]]
        parts.append(part)
    frame = pd.concat(parts, ignore_index=True)
    for col in COIN_METRICS_COLUMNS:
        if col in frame.columns:
            frame[col] = _numeric(frame[col])
    return frame


def root_splits(estimator: Any, model_type: str, limit: int) -> list[tuple[int, float]]:
    """``(feature index, threshold)`` of the root split of the first trees (distinct)."""
    found: list[tuple[int, float]] = []
    if model_type == "random_forest":
        candidates = [
            (int(t.tree_.feature[0]), float(t.tree_.threshold[0])) for t in estimator.estimators_
        ]
    else:
        model = json.loads(bytes(estimator.get_booster().save_raw("json")))
        trees = model["learner"]["gradient_booster"]["model"]["trees"]
        candidates = [
            (int(t["split_indices"][0]), float(t["split_conditions"][0]))
            for t in trees
            if int(t["left_children"][0]) != -1
        ]
    for feature, threshold in candidates:
        if feature >= 0 and all(feature != f for f, _ in found):
            found.append((feature, threshold))
    return found[:limit]


def _threshold_values(threshold: float) -> list[float]:
    """The threshold, its float32 rounding (if different), one float32 step below/above."""
    t32 = np.float32(threshold)
    values = [threshold]
    if float(t32) != threshold:
        values.append(float(t32))
    values.append(float(np.nextafter(t32, np.float32(-np.inf))))
    values.append(float(np.nextafter(t32, np.float32(np.inf))))
    return values


def _spread(indices: NDArray[np.int64], k: int) -> list[int]:
    """``k`` indices spread evenly over ``indices`` (deterministic, no random generator)."""
    if len(indices) == 0 or k <= 0:
        return []
    picks = np.unique(np.linspace(0, len(indices) - 1, num=min(k, len(indices))).round())
    return [int(indices[int(i)]) for i in picks]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_fixtures(spec: Mapping[str, Any], out_dir: Path) -> dict[str, Any]:
    """The ``fixtures`` command: train every model of ``spec``, probe it, write reference.json.

    ``spec`` (histories.json): ``generation``, ``windows``, ``training_coins`` (with
    ``labels``), ``probe_coins``, ``target`` (``target_variable``, ``target_operator``,
    ``target_value``, optional ``params`` merged into every model's params), ``models``
    (``file``, ``model_type``, ``engineered``, ``base_features``, ``params``), and
    ``probe`` (``ordinary_rows``, ``threshold_splits``).
    """
    windows = [int(w) for w in spec["windows"]]
    target = dict(spec["target"])
    probe_spec = dict(spec.get("probe", {}))
    training = engineer_features(coins_frame(spec["training_coins"]), windows)
    training = training.loc[training["label"].notna()].reset_index(drop=True)
    labels = training["label"].to_numpy(dtype=np.float64)
    probe_frame = engineer_features(coins_frame(spec["probe_coins"]), windows)
    last_rows = probe_frame.groupby("mint", sort=False).tail(1).set_index("mint")
    probe_mints = [str(c["mint"]) for c in spec["probe_coins"]]
    positives = np.flatnonzero(labels == 1).astype(np.int64)
    negatives = np.flatnonzero(labels == 0).astype(np.int64)
    n_ordinary = int(probe_spec.get("ordinary_rows", 24))
    ordinary = sorted(
        _spread(positives, n_ordinary // 2) + _spread(negatives, n_ordinary - n_ordinary // 2)
    )
    models: list[dict[str, Any]] = []
    for model in spec["models"]:
        engineered = bool(model["engineered"])
        features = [str(n) for n in model["base_features"]]
        if engineered:
            features += list(ATH_COLUMNS) + engineered_feature_names(windows)
        model_type = str(model["model_type"])
        hyper = dict(model["params"])
        estimator = train(training, labels, features, model_type, hyper)
        path = out_dir / str(model["file"])
        _dump(estimator, path)

        x_train = feature_matrix(training, features)
        rows = [feature_matrix(last_rows.loc[[m]], features)[0] for m in probe_mints]
        coin_rows = {m: i for i, m in enumerate(probe_mints)}
        rows += [x_train[i] for i in ordinary]
        base = x_train[ordinary[0]] if ordinary else np.zeros(len(features))
        for feature, threshold in root_splits(
            estimator, model_type, int(probe_spec.get("threshold_splits", 4))
        ):
            for value in _threshold_values(threshold):
                row = base.copy()
                row[feature] = value
                rows.append(row)
        rows.append(np.zeros(len(features)))
        matrix = np.asarray(rows, dtype=np.float64)
        proba = np.asarray(estimator.predict_proba(matrix), dtype=np.float64)
        params = {
            **hyper,
            **dict(target.get("params", {})),
            "use_engineered_features": engineered,
            "feature_engineering_windows": windows,
        }
        models.append(
            {
                "file": path.name,
                "sha256": _sha256(path),
                "model_type": model_type,
                "engineered": engineered,
                "features": features,
                "params": params,
                "target_variable": target["target_variable"],
                "target_operator": target.get("target_operator"),
                "target_value": target.get("target_value"),
                "n_features": len(features),
                "rows_train": len(labels),
                "probe": {
                    "rows": [[float(v) for v in r] for r in matrix],
                    "proba": [[float(v) for v in p] for p in proba],
                    "coin_rows": coin_rows,
                },
            }
        )
    reference = {
        "generation": spec["generation"],
        "libraries": library_versions(),
        "windows": windows,
        "coins": list(spec["probe_coins"]),
        "models": models,
    }
    _write_json(out_dir / "reference.json", reference)
    return reference


# --------------------------------------------------------------------------------------- CLI


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="training_side.py", description="Training-service stand-in (pinned libraries)."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p_train = sub.add_parser("train", help="fit one model on a CSV history")
    p_train.add_argument("--input", type=Path, required=True, help="history CSV")
    p_train.add_argument("--spec", type=Path, required=True, help="spec JSON")
    p_train.add_argument("--model-out", type=Path, required=True)
    p_train.add_argument("--result", type=Path, required=True)
    p_fix = sub.add_parser("fixtures", help="train and probe the reference fixture models")
    p_fix.add_argument("--input", type=Path, required=True, help="histories JSON")
    p_fix.add_argument("--out", type=Path, required=True, help="output folder")
    p_eng = sub.add_parser("engineer", help="write the engineered features of a CSV history")
    p_eng.add_argument("--input", type=Path, required=True)
    p_eng.add_argument("--windows", type=int, nargs="+", default=list(DEFAULT_WINDOWS))
    p_eng.add_argument("--out", type=Path, required=True)
    p_pred = sub.add_parser("predict", help="predict_proba of a model file on JSON rows")
    p_pred.add_argument("--model", type=Path, required=True, help="joblib model file")
    p_pred.add_argument("--rows", type=Path, required=True, help="JSON list of input rows")
    p_pred.add_argument("--out", type=Path, required=True, help="JSON: predict_proba rows")
    p_ver = sub.add_parser("versions", help="print this interpreter's library versions")
    p_ver.set_defaults(command="versions")
    args = parser.parse_args(argv)

    if args.command == "train":
        spec = json.loads(args.spec.read_text(encoding="utf-8"))
        result = train_from_csv(args.input, spec, args.model_out, args.result)
        print(
            f"trained {spec['model_type']} on {result['rows_train']} rows, "
            f"scored {result['rows_test']} test rows -> {args.model_out}"
        )
    elif args.command == "fixtures":
        spec = json.loads(args.input.read_text(encoding="utf-8"))
        reference = build_fixtures(spec, args.out)
        for model in reference["models"]:
            print(
                f"{reference['generation']}: {model['file']} ({model['n_features']} features, "
                f"{len(model['probe']['rows'])} probe rows)"
            )
    elif args.command == "predict":
        import joblib

        rows = np.asarray(json.loads(args.rows.read_text(encoding="utf-8")), dtype=np.float64)
        proba = joblib.load(args.model).predict_proba(rows)
        _write_json(args.out, {"libraries": library_versions(), "proba": proba.tolist()})
    elif args.command == "engineer":
        frame = engineer_features(_read_csv(args.input), args.windows)
        frame.to_csv(args.out, index=False, float_format="%.17g")
    else:
        print(json.dumps(library_versions(), sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
