"""The stand-in subcommands are registered with the documented flags."""

from __future__ import annotations

import shlex

import pytest

from ml_prediction_service.cli import build_parser
from ml_prediction_service.stand_ins.collector import INSERT_SQL


def test_simulate_flags() -> None:
    args = build_parser().parse_args(
        shlex.split("simulate --coins 7 --duration 3 --speed 60 --seed 5 --rate 0 --batch-size 50")
    )
    assert (args.coins, args.duration, args.speed, args.seed) == (7, 3.0, 60.0, 5)
    assert (args.rate, args.batch_size) == (0.0, 50)


def test_train_demo_and_training_service_flags() -> None:
    parser = build_parser()
    args = parser.parse_args(
        shlex.split("train-demo --model-type xgboost --target time --name x --seed 3")
    )
    assert (args.model_type, args.target, args.name, args.seed) == ("xgboost", "time", "x", 3)
    ts = parser.parse_args(["training-service"])
    assert (ts.host, ts.port) == ("127.0.0.1", 8001)
    assert parser.parse_args(["dev-schema"]).handler.__name__ == "cmd_dev_schema"


@pytest.mark.parametrize(
    "argv",
    [
        "simulate --speed 0",
        "simulate --coins 0",
        "simulate --rate -1",
        "train-demo --model-type svm",
        "train-demo --target later",
    ],
)
def test_bad_values_are_refused(argv: str) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(shlex.split(argv))


def test_one_statement_per_batch() -> None:
    assert INSERT_SQL.count("INSERT INTO coin_metrics") == 1
    assert INSERT_SQL.count("unnest(") == 1
