"""Where the collector stand-in puts a replayed coin on the wall clock (pure).

The real collector stamps each row with the real time of its interval (contract §1): it
never writes the future, and a coin's rows are one phase interval apart. A replay faster
than real time cannot do both with "now" as the coin's launch. It compresses the coin's
past instead: the coin launched long enough ago that the newest row the replay will insert
is stamped (at most) when it is inserted; every earlier row lies further back, still one
phase interval after the previous one.

With a replay ``speed`` S (simulated seconds per wall second) and ``newest_age`` N (the age of
the coin's newest row the replay inserts), the coin's age 0 goes ``N x (1 - 1/S)`` seconds
before the wall time at which the replay launches it; then the row of age ``a`` is stamped
``launch - N(1 - 1/S) + a``, which is at most its insert time ``launch + a/S`` for every
``a <= N``. S = inf (pacing by rate, speed unknown) puts the coin's whole life before its
launch; S <= 1 (real time or slower) launches it at its launch time.
"""

from __future__ import annotations

import math

import numpy as np

from ml_prediction_service.stand_ins.simulator import CoinRows


def newest_age(coin: CoinRows, horizon: float) -> int | None:
    """Age (seconds after its first row) of the coin's newest row whose offset is at most
    ``horizon`` (simulated seconds after start; inf: its last row); None if it has none."""
    offsets = coin.offsets
    if math.isfinite(horizon):
        stop = int(np.searchsorted(offsets, math.floor(horizon), side="right"))
    else:
        stop = len(offsets)
    if stop == 0:
        return None
    return int(offsets[stop - 1] - offsets[0])


def anchor_epoch(launch_wall: float, newest: int, speed: float) -> int:
    """POSIX second of the coin's first row (age 0), see the module docstring.

    ``launch_wall``: wall time (POSIX seconds) at which the replay reaches the coin's first
    row; ``newest``: the age of its newest row the replay inserts; ``speed`` > 0 (inf: the
    replay may insert the whole coin at once)."""
    if speed <= 0 or newest < 0:
        raise ValueError("speed must be > 0 and newest >= 0")
    lag = newest * max(0.0, 1.0 - 1.0 / speed)
    return math.floor(launch_wall - lag)
