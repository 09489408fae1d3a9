"""What happens to a simulated coin over its life: per-row market regime by fate.

A :class:`Regime` gives, for every sampling row of one coin, the expected trade rate, the
share of buys, the price drift and volatility, and the wallet-reuse pattern. The simulator
turns it into trades and then into ``coin_metrics`` rows. Parameters are drawn from the
coin's own random generator, so a coin's life depends only on the seed and its index.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from ml_prediction_service.arrays import FloatArray

Fate = Literal["slow_death", "pump_dump", "rug", "graduation", "wash", "koth"]
FATES: tuple[Fate, ...] = ("slow_death", "pump_dump", "rug", "graduation", "wash", "koth")
DEFAULT_FATE_WEIGHTS: tuple[float, ...] = (0.34, 0.2, 0.14, 0.12, 0.1, 0.1)

LAUNCH_PRICE_SOL = 2.8e-8  # pump.fun launch price: ~28 SOL market cap for 1e9 tokens
KOTH_MARKET_CAP_SOL = 30_000.0  # contract §1: is_koth when market cap > 30,000 SOL
TOKEN_SUPPLY = 1e9  # market_cap_close = price_close x 1e9
GRADUATION_RESERVES_SOL = 85.0  # bonding_curve_pct = virtual_sol_reserves / 85 x 100


@dataclass(frozen=True)
class Regime:
    """Per-row parameters of one coin's market (arrays have one entry per row)."""

    trade_rate: FloatArray  # expected trades per minute
    buy_share: FloatArray  # expected fraction of trades that are buys
    drift: FloatArray  # log-price drift per minute
    volatility: FloatArray  # log-price volatility per sqrt(minute)
    unique_ratio_low: float  # unique wallets / trades is drawn from [low, high]
    unique_ratio_high: float
    size_median: float  # median trade size in SOL
    size_sigma: float  # log-normal sigma of trade sizes
    launch_price: float
    initial_reserves: float  # dev's initial buy: SOL in the bonding curve at launch
    dev_sell_row: int | None = None  # row where the dev dumps his tokens (rug)
    dev_sell_sol: float = 0.0
    dev_sell_price_factor: float = 1.0
    buy_size_scale: FloatArray | None = None  # per row: buy sizes x this (None: 1)
    wallet_lift: FloatArray | None = None  # per row: unique ratio moves this share to 1


def _decay(t: FloatArray, start: float, tau: float) -> FloatArray:
    return np.asarray(np.exp(-np.clip(t - start, 0.0, None) / tau), dtype=np.float64)


def _const(n: int, value: float) -> FloatArray:
    return np.full(n, value, dtype=np.float64)


def build_regime(fate: Fate, minutes: FloatArray, rng: np.random.Generator) -> Regime:
    """The regime of a coin with ``fate`` sampled at ages ``minutes`` (float minutes)."""
    n = minutes.shape[0]
    t = minutes
    launch_price = LAUNCH_PRICE_SOL * float(rng.uniform(0.85, 1.15))
    common = Regime(
        trade_rate=_const(n, 0.0),
        buy_share=_const(n, 0.5),
        drift=_const(n, 0.0),
        volatility=_const(n, 0.04),
        unique_ratio_low=0.55,
        unique_ratio_high=0.95,
        size_median=0.15,
        size_sigma=1.3,
        launch_price=launch_price,
        initial_reserves=float(rng.uniform(0.3, 3.0)),
    )
    if fate == "slow_death":
        return replace(
            common,
            trade_rate=rng.uniform(10, 40) * _decay(t, 0.0, rng.uniform(3, 25)),
            buy_share=_const(n, 0.43),
            drift=_const(n, -0.01),
        )
    if fate == "pump_dump":
        peak, gain, dump = rng.uniform(3, 25), rng.uniform(3, 25), rng.uniform(2, 10)
        pump_rate = rng.uniform(20, 45)
        phases = [t < peak, t < peak + dump]
        return replace(
            common,
            trade_rate=np.where(
                t < peak, pump_rate, pump_rate * 1.3 * _decay(t, peak, rng.uniform(5, 20))
            ),
            buy_share=np.select(phases, [0.64, 0.3], 0.45),
            drift=np.select(phases, [np.log(gain) / peak, -1.2 * np.log(gain) / dump], -0.01),
        )
    if fate == "rug":
        rug_at = rng.uniform(2, 30)
        rug_row = int(np.searchsorted(t, rug_at))
        before = t < rug_at
        return replace(
            common,
            trade_rate=np.where(before, rng.uniform(20, 50), 40 * _decay(t, rug_at, 3.0)),
            buy_share=np.where(before, 0.57, 0.35),
            drift=np.where(before, np.log(rng.uniform(1.5, 4)) / rug_at, -0.02),
            dev_sell_row=rug_row if rug_row < n else None,
            dev_sell_sol=float(rng.uniform(3, 30)),
            dev_sell_price_factor=float(rng.uniform(0.03, 0.2)),
        )
    if fate == "graduation":
        rate = float(rng.uniform(30, 60))
        share = float(rng.uniform(0.64, 0.72))
        mean_size = common.size_median * np.exp(common.size_sigma**2 / 2)
        minutes_to_graduate = GRADUATION_RESERVES_SOL / (rate * mean_size * (2 * share - 1))
        target = rng.uniform(3e-6, 2e-5)
        return replace(
            common,
            trade_rate=_const(n, rate),
            buy_share=_const(n, share),
            drift=np.where(
                t < minutes_to_graduate, np.log(target / launch_price) / minutes_to_graduate, 0.0
            ),
        )
    if fate == "wash":
        return replace(
            common,
            trade_rate=np.where(t < rng.uniform(30, 240), rng.uniform(150, 400), 0.0),
            volatility=_const(n, 0.01),
            unique_ratio_low=0.02,
            unique_ratio_high=0.12,
            size_median=0.2,
            size_sigma=0.4,
        )
    # koth: a fast run above the KOTH market cap, a plateau, then a slow fade.
    peak, hold = rng.uniform(5, 20), rng.uniform(10, 60)
    target = rng.uniform(1.07, 2.7) * KOTH_MARKET_CAP_SOL / TOKEN_SUPPLY
    phases = [t < peak, t < peak + hold]
    return replace(
        common,
        trade_rate=np.where(t < peak + hold, rng.uniform(40, 80), 60 * _decay(t, peak + hold, 30)),
        buy_share=np.select(phases, [0.56, 0.5], 0.45),
        drift=np.select(phases, [np.log(target / launch_price) / peak, 0.0], -0.01),
    )
