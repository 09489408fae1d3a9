"""Demo models: trained with the project's features, stored like the training service."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import joblib
import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from xgboost import XGBClassifier

from ml_prediction_service.features import (
    get_engineered_feature_names,
    resolve_model_input_columns,
)
from ml_prediction_service.stand_ins.ddl import create_dev_schema
from ml_prediction_service.stand_ins.training import (
    TrainingError,
    simulated_history,
    train_demo_model,
)

N_COINS = 12
METRICS = ("training_accuracy", "training_f1", "training_precision", "training_recall", "roc_auc")


@pytest.fixture
async def conn(pool: asyncpg.Pool) -> asyncpg.Connection:
    async with pool.acquire() as c:
        await create_dev_schema(c)
        yield c


@pytest.mark.parametrize(
    ("model_type", "target", "cls"),
    [("random_forest", "rule", RandomForestClassifier), ("xgboost", "time", XGBClassifier)],
)
async def test_trained_model_is_ready_and_loads(
    conn: asyncpg.Connection, tmp_path: Path, model_type: str, target: str, cls: type
) -> None:
    result = await train_demo_model(
        conn, tmp_path, model_type, target, f"demo-{model_type}", seed=3, n_coins=N_COINS
    )  # type: ignore[arg-type]
    row = await conn.fetchrow("SELECT * FROM ml_models WHERE id = $1", result["id"])
    assert row["status"] == "READY" and row["is_deleted"] is False
    assert row["name"] == f"demo-{model_type}" and row["model_type"] == model_type

    model = joblib.load(row["model_file_path"])
    assert type(model) is cls
    assert model.n_features_in_ == len(row["features"])
    assert not hasattr(model, "feature_names_in_")  # plain numpy array, like upstream
    assert Path(row["model_file_path"]).parent == tmp_path.resolve()

    features = row["features"]
    assert features[-60:] == get_engineered_feature_names([5, 10, 15])
    assert row["target_variable"] not in features
    params = row["params"]
    assert params["use_engineered_features"] is True
    assert params["feature_engineering_windows"] == [5, 10, 15]
    assert params["n_jobs"] == 1
    if target == "time":
        assert row["target_operator"] is None and row["target_value"] is None
        assert (row["future_minutes"], row["price_change_percent"]) == (10, 20.0)
        assert row["target_direction"] == "up"
        assert params["_time_based"] == {
            "enabled": True,
            "future_minutes": 10,
            "min_percent_change": 20.0,
            "direction": "up",
        }
    else:
        assert (row["target_variable"], row["target_operator"]) == ("market_cap_close", ">")
        assert row["target_value"] == 100.0 and "_time_based" not in params

    for name in METRICS:
        assert 0.0 <= row[name] <= 1.0, name
    cm = row["confusion_matrix"]
    assert set(cm) == {"tp", "tn", "fp", "fn"} and sum(cm.values()) > 100
    assert set(row["feature_importance"]) == set(features)  # jsonb objects lose key order
    assert row["train_start"] < row["train_end"]

    # The service's own contract code accepts the model as stored.
    columns = resolve_model_input_columns(
        model=row["name"],
        features=features,
        target_variable=row["target_variable"],
        target_operator=row["target_operator"],
        params=params,
        n_features_in=model.n_features_in_,
    )
    assert columns == features


async def test_time_target_listed_among_features_like_upstream(
    conn: asyncpg.Connection, tmp_path: Path
) -> None:
    result = await train_demo_model(
        conn,
        tmp_path,
        "random_forest",
        "time",
        "quirky",
        seed=5,
        n_coins=N_COINS,
        time_target_in_features=True,
    )
    row = await conn.fetchrow("SELECT * FROM ml_models WHERE id = $1", result["id"])
    model = joblib.load(row["model_file_path"])
    assert "price_close" in row["features"]
    assert model.n_features_in_ == len(row["features"]) - 1
    columns = resolve_model_input_columns(
        model="quirky",
        features=row["features"],
        target_variable="price_close",
        target_operator=None,
        params=row["params"],
        n_features_in=model.n_features_in_,
    )
    assert "price_close" not in columns and len(columns) == model.n_features_in_


async def test_training_is_deterministic(conn: asyncpg.Connection, tmp_path: Path) -> None:
    history = simulated_history(N_COINS, 9)
    a = await train_demo_model(conn, tmp_path, "xgboost", "rule", "a", seed=9, history=history)
    b = await train_demo_model(conn, tmp_path, "xgboost", "rule", "b", seed=9, history=history)
    assert a["metrics"] == b["metrics"] and a["confusion_matrix"] == b["confusion_matrix"]
    ma, mb = joblib.load(a["model_file_path"]), joblib.load(b["model_file_path"])
    x = np.random.default_rng(0).random((5, ma.n_features_in_))
    np.testing.assert_array_equal(ma.predict_proba(x), mb.predict_proba(x))


async def test_duplicate_name_and_single_class_are_clear_errors(
    conn: asyncpg.Connection, tmp_path: Path
) -> None:
    await train_demo_model(conn, tmp_path, "random_forest", "rule", "same", n_coins=N_COINS)
    with pytest.raises(TrainingError, match="already exists"):
        await train_demo_model(conn, tmp_path, "random_forest", "rule", "same", n_coins=N_COINS)
    from ml_prediction_service.stand_ins.labels import RuleTarget

    with pytest.raises(TrainingError, match="one class"):
        await train_demo_model(
            conn,
            tmp_path,
            "random_forest",
            "rule",
            "never",
            n_coins=4,
            rule=RuleTarget("market_cap_close", ">", 1e12),
        )
    status = await conn.fetchval("SELECT status FROM ml_models WHERE name = 'never'")
    assert status == "FAILED"
