"""Pure, deterministic generator of pump.fun coin life cycles as ``coin_metrics`` rows.

Same configuration (seed included) -> same rows, bit for bit. Each coin has its own random
generator derived from ``(seed, coin index)``, so a coin's rows do not depend on how many
other coins exist or on how the stream is consumed.

Rows follow contract §1: one row per coin per sampling interval of its phase (Baby Zone
every 5 s for 10 min, Survival Zone every 30 s until 60 min, Mature Zone every 60 s until
1440 min). A coin stops being sampled when it graduates (its last row carries phase 100,
Graduated), when it reaches ``max_age_minutes`` (Finished), or after ``max_idle_minutes``
without a single trade (dead; the collector stops tracking it). Every derived column obeys
the contract's meaning and is computed from the values as stored (rounded to the column's
scale), so the rules hold on the database rows too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
from numpy.typing import NDArray

from ml_prediction_service.arrays import FloatArray, IntArray
from ml_prediction_service.stand_ins.ddl import PHASE_GRADUATED, PHASES
from ml_prediction_service.stand_ins.fates import (
    DEFAULT_FATE_WEIGHTS,
    FATES,
    GRADUATION_RESERVES_SOL,
    KOTH_MARKET_CAP_SOL,
    TOKEN_SUPPLY,
    Fate,
    Regime,
    build_regime,
)
from ml_prediction_service.stand_ins.pumps import PumpEvent, apply_pump_events, plan_pump_events

WHALE_TRADE_SOL = 1.0  # whale trades are >= 1 SOL
MICRO_TRADE_SOL = 0.01  # micro trades are < 0.01 SOL
MIN_PRICE_SOL = 1e-10
MAX_TRADES_PER_ROW = 5_000
_BASE58 = np.array(list("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"))

# coin_metrics columns after (mint, timestamp), in table order, with their NUMERIC scale
# (None: INTEGER / BOOLEAN, never NULL in simulated rows).
COLUMN_SCALES: dict[str, int | None] = {
    "phase_id_at_time": None,
    "price_open": 18,
    "price_high": 18,
    "price_low": 18,
    "price_close": 18,
    "market_cap_close": 2,
    "bonding_curve_pct": 4,
    "virtual_sol_reserves": 6,
    "is_koth": None,
    "volume_sol": 6,
    "buy_volume_sol": 6,
    "sell_volume_sol": 6,
    "num_buys": None,
    "num_sells": None,
    "unique_wallets": None,
    "num_micro_trades": None,
    "dev_sold_amount": 6,
    "max_single_buy_sol": 6,
    "max_single_sell_sol": 6,
    "net_volume_sol": 6,
    "volatility_pct": 4,
    "avg_trade_size_sol": 6,
    "whale_buy_volume_sol": 6,
    "whale_sell_volume_sol": 6,
    "num_whale_buys": None,
    "num_whale_sells": None,
    "buy_pressure_ratio": 6,
    "unique_signer_ratio": 6,
}
METRIC_COLUMNS: tuple[str, ...] = tuple(COLUMN_SCALES)
NUMERIC_COLUMNS: tuple[str, ...] = tuple(c for c, s in COLUMN_SCALES.items() if s is not None)
BOOL_COLUMNS: tuple[str, ...] = ("is_koth",)
INT_COLUMNS: tuple[str, ...] = tuple(
    c for c, s in COLUMN_SCALES.items() if s is None and c not in BOOL_COLUMNS
)


@dataclass(frozen=True)
class SimConfig:
    """What to simulate. ``start`` is the simulated time of offset 0 (UTC)."""

    n_coins: int = 20
    seed: int = 0
    start: datetime = field(default_factory=lambda: datetime(2025, 1, 1, tzinfo=UTC))
    launch_span_seconds: float = 3600.0  # coins launch (Poisson) within this span
    null_fraction: float = 0.0  # chance that a NUMERIC cell is NULL
    max_age_minutes: int = 1440
    max_idle_minutes: float = 30.0
    fate_weights: tuple[float, ...] = DEFAULT_FATE_WEIGHTS
    pump_patterns: bool = True  # plant learnable pump events and decoys (stand_ins/pumps.py)

    def __post_init__(self) -> None:
        if self.n_coins < 0:
            raise ValueError("n_coins must be >= 0")
        if self.start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        if not 0.0 <= self.null_fraction < 1.0:
            raise ValueError("null_fraction must be in [0, 1)")
        if len(self.fate_weights) != len(FATES) or min(self.fate_weights) < 0:
            raise ValueError(f"fate_weights needs {len(FATES)} non-negative weights")
        if self.launch_span_seconds < 0 or self.max_age_minutes <= 0:
            raise ValueError("launch_span_seconds must be >= 0 and max_age_minutes > 0")


@dataclass(frozen=True)
class CoinSpec:
    """One planned coin: identity, fate and launch offset (whole seconds after start)."""

    index: int
    mint: str
    fate: Fate
    launch_offset: int


@dataclass(frozen=True)
class CoinRows:
    """A coin's whole sampled life. ``offsets`` are seconds after ``SimConfig.start``."""

    spec: CoinSpec
    offsets: IntArray
    columns: dict[str, NDArray[np.generic]]

    def __len__(self) -> int:
        return int(self.offsets.shape[0])


def plan_coins(config: SimConfig) -> list[CoinSpec]:
    """The coins of a run, in launch order: Poisson launches over ``launch_span_seconds``.

    A coin's mint and fate come from its own generator: coin ``i`` is the same coin whatever
    ``n_coins`` is (only the launch times spread differently).
    """
    n = config.n_coins
    gaps = np.random.default_rng([config.seed, 0]).exponential(1.0, size=n)
    launches = np.cumsum(gaps) / max(float(gaps.sum()), 1e-12) * config.launch_span_seconds
    launches = np.floor(launches - (launches[0] if n else 0.0)).astype(np.int64)
    weights = np.asarray(config.fate_weights, dtype=np.float64)
    weights = weights / weights.sum()
    specs: list[CoinSpec] = []
    seen: set[str] = set()
    for i in range(n):  # bounded: one turn per coin
        rng = np.random.default_rng([config.seed, 2, i])
        fate = FATES[int(rng.choice(len(FATES), p=weights))]
        mint = "".join(_BASE58[rng.integers(0, len(_BASE58), size=40)]) + "pump"
        if mint in seen:  # astronomically unlikely; keep mints unique anyway
            mint = mint[:-12] + f"{i:08d}pump"
        seen.add(mint)
        specs.append(CoinSpec(i, mint, fate, int(launches[i])))
    return specs


def sampling_schedule(max_age_minutes: int) -> tuple[IntArray, IntArray]:
    """``(ages in seconds, phase id)`` of every row a coin can have, from ``PHASES``."""
    ages: list[IntArray] = []
    phases: list[IntArray] = []
    for phase in PHASES:
        if phase.interval_seconds <= 0:
            continue
        end = min(phase.max_age_minutes, max_age_minutes) * 60
        part = np.arange(phase.min_age_minutes * 60, end, phase.interval_seconds, dtype=np.int64)
        ages.append(part)
        phases.append(np.full(part.shape[0], phase.id, dtype=np.int64))
    return np.concatenate(ages), np.concatenate(phases)


def _segment_sum(values: FloatArray, row_of: IntArray, n: int) -> FloatArray:
    return np.bincount(row_of, weights=values, minlength=n).astype(np.float64)


def _segment_max(values: FloatArray, row_of: IntArray, n: int) -> FloatArray:
    out = np.zeros(n, dtype=np.float64)
    np.maximum.at(out, row_of, values)
    return out


def _trades(
    counts: IntArray,
    regime: Regime,
    rng: np.random.Generator,
    scale: FloatArray | None = None,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, IntArray]:
    """Per-row sum, max, whale volume, whale count and micro count of ``counts`` trades
    (sizes multiplied by the row's ``scale``, if given)."""
    n = counts.shape[0]
    sizes = rng.lognormal(np.log(regime.size_median), regime.size_sigma, size=int(counts.sum()))
    row_of = np.repeat(np.arange(n, dtype=np.int64), counts)
    if scale is not None:
        sizes = sizes * scale[row_of]
    whale = sizes >= WHALE_TRADE_SOL
    return (
        _segment_sum(sizes, row_of, n),
        _segment_max(sizes, row_of, n),
        _segment_sum(np.where(whale, sizes, 0.0), row_of, n),
        np.bincount(row_of[whale], minlength=n).astype(np.float64),
        np.bincount(row_of[sizes < MICRO_TRADE_SOL], minlength=n).astype(np.int64),
    )


def _reserves(initial: float, net: FloatArray) -> tuple[FloatArray, int | None]:
    """Bonding-curve SOL after each row (clamped to [0, 85]) and the graduation row."""
    out = np.empty_like(net)
    level = initial
    for i, delta in enumerate(net.tolist()):  # bounded: one pass over the coin's rows
        level = min(max(level + delta, 0.0), GRADUATION_RESERVES_SOL)
        out[i] = level
        if level >= GRADUATION_RESERVES_SOL:
            return out[: i + 1], i
    return out, None


def _round(values: FloatArray, scale: int) -> FloatArray:
    return np.asarray(np.round(values, scale), dtype=np.float64)


def coin_pump_events(
    spec: CoinSpec, config: SimConfig, regime: Regime | None = None
) -> list[PumpEvent]:
    """The planted pump events and decoys of a coin (empty without ``pump_patterns``).

    They come from the coin's own generator ``(seed, 3, index)``: the fate's draws do not
    change when events are planned. ``regime``: the fate's regime if already built."""
    if not config.pump_patterns:
        return []
    minutes = sampling_schedule(config.max_age_minutes)[0] / 60.0
    if regime is None:
        regime = build_regime(
            spec.fate, minutes, np.random.default_rng([config.seed, 1, spec.index])
        )
    rng = np.random.default_rng([config.seed, 3, spec.index])
    return plan_pump_events(spec.fate, minutes, regime, rng)


def simulate_coin(spec: CoinSpec, config: SimConfig) -> CoinRows:
    """The full sampled life of one coin (pure: depends on ``config`` and ``spec`` only)."""
    rng = np.random.default_rng([config.seed, 1, spec.index])
    ages, phase_ids = sampling_schedule(config.max_age_minutes)
    minutes = ages / 60.0
    dt = np.diff(ages, prepend=0).astype(np.float64) / 60.0
    dt[0] = PHASES[0].interval_seconds / 60.0
    regime = build_regime(spec.fate, minutes, rng)
    if config.pump_patterns:
        regime = apply_pump_events(regime, minutes, coin_pump_events(spec, config, regime))
    n = ages.shape[0]

    lam = np.clip(regime.trade_rate * dt, 0.0, MAX_TRADES_PER_ROW)
    num_buys = np.minimum(rng.poisson(lam * regime.buy_share), MAX_TRADES_PER_ROW)
    num_sells = np.minimum(rng.poisson(lam * (1.0 - regime.buy_share)), MAX_TRADES_PER_ROW)
    buy_vol, max_buy, whale_buy_vol, whale_buys, micro_b = _trades(
        num_buys, regime, rng, regime.buy_size_scale
    )
    sell_vol, max_sell, whale_sell_vol, whale_sells, micro_s = _trades(num_sells, regime, rng)
    dev_sold = np.zeros(n)
    log_ret = regime.drift * dt + regime.volatility * np.sqrt(dt) * rng.standard_normal(n)
    if regime.dev_sell_row is not None:
        r, amount = regime.dev_sell_row, regime.dev_sell_sol
        dev_sold[r] = amount
        num_sells[r] += 1
        sell_vol[r] += amount
        max_sell[r] = max(max_sell[r], amount)
        whale_sell_vol[r] += amount
        whale_sells[r] += 1
        log_ret[r] += np.log(regime.dev_sell_price_factor)
    trades = num_buys + num_sells
    log_ret = np.where(trades > 0, log_ret, 0.0)

    # End of life: idle for too long (dead) or graduation, whichever comes first.
    last_trade_age = np.maximum.accumulate(np.where(trades > 0, ages, 0))
    idle = np.flatnonzero((ages - last_trade_age) >= config.max_idle_minutes * 60.0)
    end = int(idle[0]) + 1 if idle.size else n
    buy_vol, sell_vol = _round(buy_vol, 6), _round(sell_vol, 6)
    reserves, graduated_row = _reserves(regime.initial_reserves, (buy_vol - sell_vol)[:end])
    if graduated_row is not None:
        end = graduated_row + 1
        phase_ids = phase_ids.copy()
        phase_ids[graduated_row] = PHASE_GRADUATED
    s = slice(0, end)

    log_price = np.log(regime.launch_price) + np.cumsum(log_ret[s])
    close = _round(np.maximum(np.exp(log_price), MIN_PRICE_SOL), 18)
    open_ = np.concatenate(([_round(np.array([regime.launch_price]), 18)[0]], close[:-1]))
    wick = np.abs(rng.standard_normal((2, end))) * 0.3 * regime.volatility[s] * np.sqrt(dt[s])
    wick = np.where(trades[s] > 0, wick, 0.0)
    high = _round(np.maximum(open_, close) * np.exp(wick[0]), 18)
    low = _round(np.maximum(np.minimum(open_, close) * np.exp(-wick[1]), MIN_PRICE_SOL), 18)
    mcap = _round(close * TOKEN_SUPPLY, 2)

    n_trades = trades[s]
    has_trades = n_trades > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = rng.uniform(regime.unique_ratio_low, regime.unique_ratio_high, size=end)
        if regime.wallet_lift is not None:
            ratio = ratio + (1.0 - ratio) * regime.wallet_lift[s]
        unique = np.where(has_trades, np.clip(np.rint(ratio * n_trades), 1, n_trades), 0)
        volume = _round(buy_vol[s] + sell_vol[s], 6)
        columns: dict[str, NDArray[np.generic]] = {
            "phase_id_at_time": phase_ids[s],
            "price_open": open_,
            "price_high": high,
            "price_low": low,
            "price_close": close,
            "market_cap_close": mcap,
            "bonding_curve_pct": _round(reserves / GRADUATION_RESERVES_SOL * 100.0, 4),
            "virtual_sol_reserves": _round(reserves, 6),
            "is_koth": mcap > KOTH_MARKET_CAP_SOL,
            "volume_sol": volume,
            "buy_volume_sol": buy_vol[s],
            "sell_volume_sol": sell_vol[s],
            "num_buys": num_buys[s].astype(np.int64),
            "num_sells": num_sells[s].astype(np.int64),
            "unique_wallets": unique.astype(np.int64),
            "num_micro_trades": (micro_b + micro_s)[s],
            "dev_sold_amount": _round(dev_sold[s], 6),
            "max_single_buy_sol": _round(max_buy[s], 6),
            "max_single_sell_sol": _round(max_sell[s], 6),
            "net_volume_sol": _round(buy_vol[s] - sell_vol[s], 6),
            "volatility_pct": _round((high - low) / open_ * 100.0, 4),
            "avg_trade_size_sol": _round(np.where(has_trades, volume / n_trades, np.nan), 6),
            "whale_buy_volume_sol": _round(whale_buy_vol[s], 6),
            "whale_sell_volume_sol": _round(whale_sell_vol[s], 6),
            "num_whale_buys": whale_buys[s].astype(np.int64),
            "num_whale_sells": whale_sells[s].astype(np.int64),
            "buy_pressure_ratio": _round(np.where(volume > 0, buy_vol[s] / volume, np.nan), 6),
            "unique_signer_ratio": _round(np.where(has_trades, unique / n_trades, np.nan), 6),
        }
    if config.null_fraction > 0:
        for name in NUMERIC_COLUMNS:  # fixed order: the draws are deterministic
            values = np.asarray(columns[name], dtype=np.float64).copy()
            values[rng.random(end) < config.null_fraction] = np.nan
            columns[name] = values
    return CoinRows(spec, spec.launch_offset + ages[s], columns)
