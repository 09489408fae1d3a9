"""The vectorised fast path and the prefix state against the pandas reference.

Property tests: for random histories (random lengths, NULLs, zeros, ±inf, breakouts, equal
and far-apart timestamps) the fast path's row equals the last row of
``create_pump_detection_features`` on the history up to the snapshot (1e-9 relative) and is
always finite, whatever part of the history is folded into the prefix state.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from ml_prediction_service.features import (
    ATH_FEATURE_NAMES,
    ENGINEERING_INPUT_COLUMNS,
    TailBatch,
    batch_feature_names,
    compute_batch_features,
    create_pump_detection_features,
    get_engineered_feature_names,
    snapshot_base_values,
    tail_depth,
)
from tests.support.feature_histories import (
    INF,
    NAN,
    PROPERTY,
    SECOND,
    T0_NS,
    WINDOW_CHOICES,
    History,
    assert_equal_features,
    histories,
    reference_row,
)
from tests.support.prefix_state import (
    PrefixState,
    StaleStateError,
    advance_prefix_state,
    history_row_mask,
    prefix_batch,
    seed_prefix_state,
    split_for_snapshot,
    state_after_snapshot,
)
from tests.support.tails import pack_tails


def fast_rows(
    coins: list[tuple[PrefixState, NDArray[np.int64], dict[str, NDArray[np.float64]]]],
    windows: Sequence[int],
    depth: int,
) -> tuple[NDArray[np.float64], list[str]]:
    """Pack (state, tail rows) of several coins (rows interleaved) and run the fast path."""
    coin_index = np.concatenate([np.full(len(ts), i) for i, (_, ts, _) in enumerate(coins)])
    ts_all = np.concatenate([ts for _, ts, _ in coins])
    cols = {c: np.concatenate([v[c] for _, _, v in coins]) for c in coins[0][2]}
    # interleave the coins (rows by time); rows of one coin with equal timestamps keep their
    # order, which is the only thing that orders them
    order = np.lexsort((coin_index, ts_all))
    tail = pack_tails(
        coin_index[order],
        ts_all[order],
        {c: v[order] for c, v in cols.items()},
        n_coins=len(coins),
        depth=depth,
    )
    prefix = prefix_batch([state for state, _, _ in coins])
    return compute_batch_features(tail, prefix, windows)


# --------------------------------------------------------------------------------- properties


@PROPERTY
@given(history=histories(), windows=st.sampled_from(WINDOW_CHOICES), data=st.data())
def test_fast_path_equals_reference_for_any_prefix_split(
    history: History, windows: tuple[int, ...], data: st.DataObject
) -> None:
    valid = history.valid()
    if len(valid) == 0:
        return
    depth = tail_depth(windows) + data.draw(st.integers(0, 3), label="extra depth")
    cut = data.draw(st.integers(0, max(0, len(valid) - depth)), label="rows in the state")
    seeded = seed_prefix_state(*valid.rows(0, cut))
    # rows beyond one tail are folded into the state (incremental update)
    state, ts, cols = split_for_snapshot(seeded, *valid.rows(cut, len(valid)), depth)
    assert len(ts) == min(depth, len(valid))
    matrix, names = fast_rows([(state, ts, cols)], windows, depth)
    assert names == batch_feature_names(windows)
    assert_equal_features(matrix[0], reference_row(history, windows), names)


@PROPERTY
@given(
    coins=st.lists(histories(max_rows=25), min_size=1, max_size=5),
    windows=st.sampled_from(WINDOW_CHOICES),
)
def test_batch_of_coins_equals_each_coin_alone(
    coins: list[History], windows: tuple[int, ...]
) -> None:
    coins = [c for c in coins if len(c.valid()) > 0]
    if not coins:
        return
    depth = tail_depth(windows)
    prepared = []
    for history in coins:
        valid = history.valid()
        state, ts, cols = split_for_snapshot(PrefixState(), *valid.rows(0, len(valid)), depth)
        prepared.append((state, ts, cols))
    matrix, names = fast_rows(prepared, windows, depth)
    for row, history in zip(matrix, coins, strict=True):
        assert_equal_features(row, reference_row(history, windows), names)


@settings(PROPERTY, max_examples=25)
@given(history=histories(max_rows=18), windows=st.sampled_from(WINDOW_CHOICES))
def test_service_loop_every_snapshot_as_of_its_time(
    history: History, windows: tuple[int, ...]
) -> None:
    """Serve each new row in turn with a lagging state, as the service does; each snapshot
    must equal the reference on the history up to that snapshot (not the whole history)."""
    depth = tail_depth(windows)
    valid = history.valid()
    is_history_row = history_row_mask(history.columns)
    state = PrefixState()
    served = 0
    for i in range(len(history)):
        if not is_history_row[i]:
            continue  # not part of the history: nothing to serve
        served += 1
        # the rows after the state up to this snapshot (the state counts the rows it covers)
        prefix, tail_ts, tail_cols = split_for_snapshot(
            state, *valid.rows(state.n_rows, served), depth
        )
        matrix, names = fast_rows([(prefix, tail_ts, tail_cols)], windows, depth)
        assert_equal_features(matrix[0], reference_row(history, windows, rows=i + 1), names)
        state = state_after_snapshot(prefix, tail_ts, tail_cols, depth)


@PROPERTY
@given(history=histories(max_rows=60), data=st.data())
def test_state_seeding_equals_incremental_updates(history: History, data: st.DataObject) -> None:
    cuts = sorted(data.draw(st.lists(st.integers(0, len(history)), max_size=6), label="cuts"))
    state = PrefixState()
    start = 0
    for cut in [*cuts, len(history)]:
        state = advance_prefix_state(state, *history.rows(start, cut))
        start = cut
    seeded = seed_prefix_state(*history.rows(0, len(history)))
    assert_states_equal(state, seeded)
    valid = history.valid()
    assert seeded.n_rows == len(valid)
    if len(valid):
        ref = create_pump_detection_features(history.frame(), (1,))
        high = valid.columns["price_high"]
        assert seeded.first_ts_ns == valid.ts[0]
        assert seeded.last_ts_ns == valid.ts[-1]
        assert same_float(seeded.ath, float(np.max(high)))
        running_sum = 0.0
        for value in valid.columns["dev_sold_amount"].tolist():
            running_sum += 0.0 if math.isnan(value) else value
        assert same_float(seeded.dev_sold_cumsum, running_sum)
        breakouts = [i for i in range(1, len(high)) if high[i] > np.max(high[:i])]
        expected_last = int(valid.ts[breakouts[-1]]) if breakouts else None
        assert seeded.last_breakout_ts_ns == expected_last
        assert float(ref["ath_breakout"].sum()) == len(breakouts)


def same_float(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def assert_states_equal(a: PrefixState, b: PrefixState) -> None:
    assert (a.n_rows, a.first_ts_ns, a.last_ts_ns, a.last_breakout_ts_ns) == (
        b.n_rows,
        b.first_ts_ns,
        b.last_ts_ns,
        b.last_breakout_ts_ns,
    )
    assert same_float(a.ath, b.ath)
    assert same_float(a.dev_sold_cumsum, b.dev_sold_cumsum)


# ------------------------------------------------------------------------------- edge cases


def one_row_history(**overrides: float) -> History:
    columns = {c: np.array([1.0]) for c in ENGINEERING_INPUT_COLUMNS}
    columns.update({c: np.array([v]) for c, v in overrides.items()})
    return History(np.array([T0_NS]), columns)


def test_single_row_coin() -> None:
    history = one_row_history(dev_sold_amount=2.0, net_volume_sol=5.0)
    matrix, names = compute_batch_features(
        pack_tails([0], history.ts, history.columns, n_coins=1, depth=16)
    )
    row = dict(zip(names, matrix[0], strict=True))
    assert row["dev_sold_flag"] == 1
    assert row["dev_sold_cumsum"] == 2
    assert row["volume_flip_5"] == 0  # no previous row
    assert row["price_change_5"] == 0
    assert row["volume_ratio_15"] == 1
    assert row["minutes_since_ath"] == 0
    assert row["ath_is_recent"] == 1
    assert_equal_features(matrix[0], reference_row(history, (5, 10, 15)), names)


def test_names_order_and_include_ath() -> None:
    history = one_row_history()
    tail = pack_tails([0], history.ts, history.columns, n_coins=1, depth=4)
    matrix, names = compute_batch_features(tail, None, (2, 3), include_ath=False)
    assert names == get_engineered_feature_names((2, 3))
    assert matrix.shape == (1, 41)
    _, with_ath = compute_batch_features(tail, None, (2, 3))
    assert with_ath == names + list(ATH_FEATURE_NAMES)


def test_short_tail_with_earlier_rows_is_refused() -> None:
    history = one_row_history()
    tail = pack_tails([0], history.ts, history.columns, n_coins=1, depth=16)
    state = seed_prefix_state(history.ts - SECOND, history.columns)
    with pytest.raises(ValueError, match="fewer than 16 rows"):
        compute_batch_features(tail, prefix_batch([state]))


def test_null_key_column_inside_a_tail_is_refused() -> None:
    history = one_row_history()
    tail = pack_tails([0], history.ts, history.columns, n_coins=1, depth=16)
    broken = dict(tail.columns)
    broken["volume_sol"] = np.full((1, 16), np.nan)
    with pytest.raises(ValueError, match="NULL volume_sol"):
        compute_batch_features(TailBatch(tail.timestamps_ns, tail.lengths, broken))


def test_coin_without_rows_is_refused() -> None:
    history = one_row_history()
    tail = pack_tails([0], history.ts, history.columns, n_coins=2, depth=16)
    assert tail.lengths.tolist() == [1, 0]
    with pytest.raises(ValueError, match=r"coins \[1\]"):
        compute_batch_features(tail)


def test_pack_tails_keeps_the_last_rows_and_drops_non_history_rows() -> None:
    ts = np.array([5, 1, 3, 2, 4, 9]) * SECOND
    close = np.array([5.0, 1.0, NAN, 2.0, 4.0, 9.0])
    cols = {"price_close": close, "price_high": close, "volume_sol": np.ones(6)}
    tail = pack_tails([0, 0, 0, 0, 0, 1], ts, cols, n_coins=2, depth=3)
    assert tail.lengths.tolist() == [3, 1]
    assert (tail.timestamps_ns[0] // SECOND).tolist() == [2, 4, 5]
    assert tail.columns["price_close"][0].tolist() == [2.0, 4.0, 5.0]
    assert tail.columns["price_close"][1, -1] == 9.0
    assert np.isnan(tail.columns["price_close"][1, :2]).all()


def test_pack_tails_refuses_unknown_columns() -> None:
    with pytest.raises(ValueError, match="not coin_metrics base columns"):
        pack_tails([0], [0], {"price_close; DROP TABLE": [1.0]}, n_coins=1, depth=1)


def test_snapshot_base_values_are_raw_newest_values_with_nan_and_inf_as_zero() -> None:
    cols: dict[str, list[Any]] = {
        "price_close": [1.0, 2.0],
        "price_high": [1.0, 2.0],
        "volume_sol": [1.0, INF],
        "is_koth": [False, True],
        "num_buys": [3, None],
    }
    tail = pack_tails([0, 0], [1, 2], cols, n_coins=1, depth=2)
    values = snapshot_base_values(tail, ["is_koth", "price_close", "num_buys", "volume_sol"])
    assert values.tolist() == [[1.0, 2.0, 0.0, 0.0]]


def test_split_for_snapshot_detects_a_state_that_is_too_new() -> None:
    history = one_row_history()
    state = seed_prefix_state(history.ts, history.columns)
    with pytest.raises(StaleStateError):
        split_for_snapshot(state, history.ts + SECOND, history.columns, depth=2)
    with pytest.raises(StaleStateError):
        split_for_snapshot(
            state,
            np.array([T0_NS - SECOND] * 2),
            {c: np.repeat(v, 2) for c, v in history.columns.items()},
            depth=2,
        )


def test_advance_refuses_rows_out_of_order() -> None:
    history = one_row_history()
    state = seed_prefix_state(history.ts, history.columns)
    with pytest.raises(ValueError, match="time order"):
        advance_prefix_state(state, history.ts - SECOND, history.columns)
