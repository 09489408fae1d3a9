"""Planted pump patterns: something the demo's time-based models can learn.

A fate alone gives a coin a price path that only momentum can follow. On top of it, a share
of coins get **pump events**: a few minutes of *accumulation* (the trade rate climbs, buys
dominate, buys get bigger so whale buys appear, new wallets join) while the price barely
moves, then a fast rise of 50 % to 150 % within a few minutes that holds for a while before
it fades. The precursor always ends, and the rise completes, within ten minutes of the first
precursor row, so a model that spots the accumulation can alert before the price moves.

Other events are **decoys**: the same accumulation shape, weaker on average, and no rise.
Event strengths overlap between the two kinds (and trades are Poisson noise), so the pattern
is informative but not a giveaway: a model's precision is well above the base rate, not 100 %.

Events are planned from their own generator ``(seed, 3, coin index)``, only on fates whose
prices stay far below the KOTH market cap (slow death, pump then dump, rug) and only while the
coin is trading outside the fate's own pump (a dead coin is not pumped back to life, and
a coin already being bought up is not pushed to graduation).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ml_prediction_service.arrays import FloatArray
from ml_prediction_service.stand_ins.fates import Fate, Regime

PUMP_FATES: frozenset[Fate] = frozenset({"slow_death", "pump_dump", "rug"})
REAL_SHARE = 0.5  # share of events that are real pumps (the others are decoys)
MIN_TRADE_RATE = 1.0  # trades per minute the coin needs at the start of an event
MAX_FATE_BUY_SHARE = 0.6  # no event inside the fate's own pump (its buys dominate)
FIRST_EVENT_MINUTES = (0.5, 8.0)  # the first event starts within this age range
MEAN_GAP_MINUTES = 4.0  # extra (exponential) gap between the end of one event and the next
RAMP_SHARE = 0.25  # the accumulation reaches its full strength within this share of it
MAX_EVENTS = 200  # per coin; bounds the planning loop


@dataclass(frozen=True)
class PumpEvent:
    """One accumulation phase (``start`` .. ``rise_start``), for a real pump followed by a
    rise to ``gain`` x the price (``rise_start`` .. ``rise_end``), a hold and a fade. Minutes of
    coin age."""

    start: float
    precursor_minutes: float
    rise_minutes: float
    hold_minutes: float
    fade_minutes: float
    strength: float  # 0..1: how loud the accumulation is
    gain: float  # price factor of the rise (1.0 for a decoy)
    real: bool

    @property
    def rise_start(self) -> float:
        return self.start + self.precursor_minutes

    @property
    def rise_end(self) -> float:
        return self.rise_start + self.rise_minutes

    @property
    def end(self) -> float:
        return self.rise_end + self.hold_minutes + self.fade_minutes


def plan_pump_events(
    fate: Fate, minutes: FloatArray, regime: Regime, rng: np.random.Generator
) -> list[PumpEvent]:
    """The pump events and decoys of one coin sampled at ages ``minutes`` (pure).

    An event starts only while the fate's own market is trading (``MIN_TRADE_RATE``) and not
    already bought up (buy share <= ``MAX_FATE_BUY_SHARE``: not inside the fate's own pump)."""
    if fate not in PUMP_FATES or minutes.shape[0] == 0:
        return []
    horizon = float(minutes[-1])
    events: list[PumpEvent] = []
    at = float(rng.uniform(*FIRST_EVENT_MINUTES))
    for _ in range(MAX_EVENTS):  # bounded: the age grows by at least 10 minutes per turn
        if at >= horizon:
            break
        real = bool(rng.random() < REAL_SHARE)
        event = PumpEvent(
            start=at,
            precursor_minutes=float(rng.uniform(1.5, 4.0)),
            rise_minutes=float(rng.uniform(1.0, 3.0)),
            hold_minutes=float(rng.uniform(10.0, 20.0)),
            fade_minutes=float(rng.uniform(3.0, 8.0)),
            strength=float(rng.uniform(0.65, 1.0) if real else rng.uniform(0.05, 0.45)),
            gain=float(rng.uniform(1.5, 2.5)) if real else 1.0,
            real=real,
        )
        row = min(int(np.searchsorted(minutes, at)), minutes.shape[0] - 1)
        if regime.trade_rate[row] >= MIN_TRADE_RATE and regime.buy_share[row] <= MAX_FATE_BUY_SHARE:
            events.append(event)
        at = event.end + float(rng.exponential(MEAN_GAP_MINUTES))
    return events


def _plateau(t: FloatArray, start: float, length: float) -> FloatArray:
    """0 outside ``[start, start + length)``; inside, rising linearly to 1 over the first
    ``RAMP_SHARE`` of it, then 1."""
    inside = (t >= start) & (t < start + length)
    return np.where(inside, np.clip((t - start) / (RAMP_SHARE * length), 0.0, 1.0), 0.0)


def _window(t: FloatArray, start: float, end: float) -> FloatArray:
    return ((t >= start) & (t < end)).astype(np.float64)


def apply_pump_events(regime: Regime, minutes: FloatArray, events: list[PumpEvent]) -> Regime:
    """``regime`` with the accumulation (and, for real pumps, the rise) of every event."""
    if not events:
        return regime
    t = minutes
    n = t.shape[0]
    rate = regime.trade_rate.copy()
    share = regime.buy_share.copy()
    drift = regime.drift.copy()
    size_scale = np.ones(n) if regime.buy_size_scale is None else regime.buy_size_scale.copy()
    lift = np.zeros(n) if regime.wallet_lift is None else regime.wallet_lift.copy()
    for e in events:  # bounded: MAX_EVENTS per coin
        s = e.strength
        build = _plateau(t, e.start, e.precursor_minutes)  # accumulation: 0..1
        if e.real:
            rising = _window(t, e.rise_start, e.rise_end)
            holding = _window(t, e.rise_end, e.rise_end + e.hold_minutes)
            fading = _window(t, e.rise_end + e.hold_minutes, e.end)
        else:  # a decoy's accumulation just stops
            rising = holding = fading = np.zeros(n)
        # many small buys from new wallets (a crowd piling in, not a few big orders): more
        # trades, buys dominate by count and volume, unique wallets up. All scaled by the
        # strength, which is higher for real pumps than for decoys. Small sizes keep the SOL
        # flow into the bonding curve modest (the fade gives some back), so pumps do not
        # push coins to graduation.
        rate = rate + 40.0 * build * (0.3 + s) + 30.0 * s * rising + 8.0 * s * (holding + fading)
        busy = np.clip(build * s * (1.0 if e.real else 0.5) + s * rising, 0.0, 1.0)
        share = share + (0.85 - share) * busy - 0.3 * fading
        size_scale = size_scale * (1.0 - 0.7 * build - 0.5 * rising)
        lift = np.maximum(lift, 0.9 * build * s * (1.0 if e.real else 0.3))
        log_gain = np.log(e.gain)
        drift = (
            drift
            + 0.01 * build * s
            + rising * log_gain / e.rise_minutes
            - holding * 0.03 * log_gain / e.hold_minutes
            - fading * 0.6 * log_gain / e.fade_minutes
        )
    return replace(
        regime,
        trade_rate=rate,
        buy_share=np.clip(share, 0.05, 0.95),
        drift=drift,
        buy_size_scale=size_scale,
        wallet_lift=lift,
    )
