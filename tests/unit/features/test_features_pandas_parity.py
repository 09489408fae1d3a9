"""The reference against the textbook pandas formulation a training service uses.

The reference adds window values in a fixed order (so the fast path can match it bit for bit);
pandas ``rolling`` uses an online algorithm. On ordinary data both agree to rounding noise.
Flags (thresholds on those values) are left out: they are equal unless a value sits exactly on
a threshold, which random data does not produce.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pandas.api.typing import Rolling

from ml_prediction_service.features import ENGINEERING_INPUT_COLUMNS, create_pump_detection_features

WINDOWS = (5, 10, 15)


def random_history(seed: int, n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ts = pd.Timestamp("2024-05-01", tz="UTC") + pd.to_timedelta(
        np.cumsum(rng.integers(1, 600, n)), unit="s"
    )
    df = pd.DataFrame({"mint": "COIN", "timestamp": ts})
    for name in ENGINEERING_INPUT_COLUMNS:
        df[name] = rng.lognormal(0.0, 1.0, n)
    df["net_volume_sol"] = rng.normal(0.0, 1.0, n)
    df["price_high"] = df["price_close"] * (1 + rng.random(n) / 10)
    for name in (
        "volatility_pct",
        "unique_signer_ratio",
        "net_volume_sol",
        "market_cap_close",
        "dev_sold_amount",
        "buy_pressure_ratio",
        "whale_buy_volume_sol",
    ):
        df.loc[rng.random(n) < 0.1, name] = np.nan
    df.loc[rng.random(n) < 0.03, "volume_sol"] = np.inf
    return df


def pandas_formulas(df: pd.DataFrame) -> dict[str, pd.Series]:
    dev = df["dev_sold_amount"].fillna(0)
    pressure = df["buy_pressure_ratio"].fillna(0)
    whale_buy = df["whale_buy_volume_sol"].fillna(0)
    whale_sell = df["whale_sell_volume_sol"].fillna(0)
    volume = df["volume_sol"]
    ath = df["price_high"].cummax()
    distance = (ath - df["price_close"]) / ath * 100
    breakout = (df["price_high"] > ath.shift(1)).astype(float)
    out: dict[str, pd.Series] = {"dev_sold_cumsum": dev.cumsum(), "rolling_ath": ath}
    for w in WINDOWS:

        def roll(s: pd.Series, w: int = w) -> Rolling[pd.Series]:
            return s.rolling(w, min_periods=1)

        out[f"buy_pressure_ma_{w}"] = roll(pressure).mean()
        out[f"buy_pressure_trend_{w}"] = pressure - roll(pressure).mean()
        out[f"whale_activity_{w}"] = roll(whale_buy).sum() + roll(whale_sell).sum()
        out[f"volatility_ma_{w}"] = roll(df["volatility_pct"]).mean()
        out[f"net_volume_ma_{w}"] = roll(df["net_volume_sol"]).mean()
        out[f"price_change_{w}"] = df["price_close"].pct_change(w, fill_method=None) * 100
        out[f"volume_ratio_{w}"] = volume / roll(volume).mean()
        out[f"volume_spike_{w}"] = (volume - roll(volume).mean()) / roll(volume).std()
        mcap = df["market_cap_close"]
        out[f"mcap_velocity_{w}"] = (mcap - mcap.shift(w)) / mcap.shift(w) * 100
        out[f"ath_distance_trend_{w}"] = roll(distance).mean()
        out[f"ath_breakout_count_{w}"] = roll(breakout).sum()
        out[f"ath_breakout_volume_ma_{w}"] = roll(breakout * volume).mean()
    return {k: v.replace([np.inf, -np.inf], np.nan).fillna(0) for k, v in out.items()}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_reference_matches_pandas_rolling(seed: int) -> None:
    df = random_history(seed)
    ours = create_pump_detection_features(df, WINDOWS)
    for name, expected in pandas_formulas(df).items():
        np.testing.assert_allclose(
            ours[name].to_numpy(), expected.to_numpy(), rtol=1e-9, atol=1e-9, err_msg=name
        )
