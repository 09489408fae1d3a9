"""Feature names and base columns of the training contract (contract §1 and §5).

Pure constants and name builders: no I/O, nothing computed at import time beyond tuples.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

DEFAULT_WINDOW_SIZES: tuple[int, ...] = (5, 10, 15)
"""Window sizes used when a model's ``params.feature_engineering_windows`` is absent."""

BASE_COLUMNS: tuple[str, ...] = (
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
    "phase_id_at_time",
)
"""Numeric ``coin_metrics`` columns usable as base features, in table order.

``is_koth`` is served as 0/1. ``mint`` and ``timestamp`` are identifiers, not features.
These names are the only column names that may ever be put into SQL by the service.
"""

HISTORY_KEY_COLUMNS: tuple[str, ...] = ("price_close", "price_high", "volume_sol")
"""A row whose value in any of these columns is NULL (or NaN) is not part of a coin's history."""

ZERO_FILLED_COLUMNS: tuple[str, ...] = (
    "dev_sold_amount",
    "buy_pressure_ratio",
    "whale_buy_volume_sol",
    "whale_sell_volume_sol",
)
"""Engineering inputs whose NULLs become 0 before any window."""

NULL_KEEPING_COLUMNS: tuple[str, ...] = (
    "volatility_pct",
    "unique_signer_ratio",
    "net_volume_sol",
    "market_cap_close",
)
"""Engineering inputs that keep their NULLs (windows skip them, comparisons are false)."""

ENGINEERING_INPUT_COLUMNS: tuple[str, ...] = tuple(
    c
    for c in BASE_COLUMNS
    if c in HISTORY_KEY_COLUMNS or c in ZERO_FILLED_COLUMNS or c in NULL_KEEPING_COLUMNS
)
"""Every base column the engineered and ATH features read, in ``BASE_COLUMNS`` order."""

ATH_FEATURE_NAMES: tuple[str, ...] = (
    "rolling_ath",
    "ath_distance_pct",
    "ath_breakout",
    "minutes_since_ath",
    "ath_age_hours",
    "ath_is_recent",
    "ath_is_old",
)
"""Columns added by ``add_ath_features`` (full-history features), in the order they are added."""


def validate_window_sizes(window_sizes: Iterable[int]) -> tuple[int, ...]:
    """Return the window sizes as a tuple, or raise ``ValueError`` if one is not an int >= 1.

    Duplicates are refused because they would produce duplicate feature names.
    """
    sizes = tuple(window_sizes)
    for w in sizes:
        if isinstance(w, bool) or not isinstance(w, int) or w < 1:
            raise ValueError(f"window sizes must be integers >= 1, got {sizes!r}")
    if len(set(sizes)) != len(sizes):
        raise ValueError(f"window sizes must be distinct, got {sizes!r}")
    return sizes


def get_engineered_feature_names(
    window_sizes: Sequence[int] = DEFAULT_WINDOW_SIZES,
) -> list[str]:
    """Engineered feature names in the exact contract order (60 names for three windows).

    The windows are used in the order given (the contract's w1, w2, w3).
    """
    ws = validate_window_sizes(window_sizes)
    names: list[str] = ["dev_sold_flag", "dev_sold_cumsum"]
    names += [f"dev_sold_spike_{w}" for w in ws]
    for w in ws:
        names += [f"buy_pressure_ma_{w}", f"buy_pressure_trend_{w}"]
    names.append("whale_net_volume")
    names += [f"whale_activity_{w}" for w in ws]
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


def tail_depth(window_sizes: Sequence[int]) -> int:
    """Rows of recent history the windowed features need: ``max(window) + 1``.

    The extra row serves "vs w rows earlier" (price/mcap changes) and "vs the previous row"
    (volume flip, ATH approach). With no windows one row (the snapshot) is enough.
    """
    ws = validate_window_sizes(window_sizes)
    return max(ws, default=0) + 1


def known_feature_names(
    *, use_engineered_features: bool, window_sizes: Sequence[int] = DEFAULT_WINDOW_SIZES
) -> list[str]:
    """Every name a model may list: base columns, ATH features and, when engineering is on,
    the engineered names for its windows."""
    names = list(BASE_COLUMNS) + list(ATH_FEATURE_NAMES)
    if use_engineered_features:
        names += get_engineered_feature_names(window_sizes)
    return names
