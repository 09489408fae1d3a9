"""The in-memory history store against the pandas reference.

Property test: several coins' histories are revealed in random chunks (0 to 12 new rows per
coin per batch, so both the vectorised path and the per-coin path run), each batch predicts
some coins at their newest row or at an older one, the store is small enough to evict — and
for every snapshot whose row is a history row, the features built from the store equal the
reference's last row on the history up to that snapshot, the history row count is exact,
and the snapshot's raw values are the tail's newest row.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.typing import NDArray

from ml_prediction_service.features import (
    BASE_COLUMNS,
    ENGINEERING_INPUT_COLUMNS,
    batch_feature_names,
    compute_batch_features,
    snapshot_base_values,
    tail_depth,
)
from ml_prediction_service.pipeline.history import (
    FAST_PATH_MAX_ROWS,
    HistoryStore,
    Snapshot,
    assemble,
)
from tests.support.feature_histories import (
    PROPERTY,
    WINDOW_CHOICES,
    History,
    assert_equal_features,
    histories,
    reference_row,
)
from tests.support.prefix_state import history_row_mask

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def strictly_increasing(history: History) -> History:
    """coin_metrics has one row per (mint, timestamp): make equal timestamps 1 µs apart."""
    ts = history.ts + np.arange(len(history.ts), dtype=np.int64) * 1000
    return History(ts, history.columns)


def base_matrix(history: History, coin: int) -> NDArray[np.float64]:
    """All base columns; the ones the generator does not draw get recognisable values."""
    n = len(history)
    out = np.empty((n, len(BASE_COLUMNS)))
    for j, name in enumerate(BASE_COLUMNS):
        if name in history.columns:
            out[:, j] = history.columns[name]
        else:
            out[:, j] = coin * 1000.0 + np.arange(n) + j / 100
    return out


def snapshot(coin: int, ts_ns: int) -> Snapshot:
    return Snapshot(f"coin{coin}", EPOCH + timedelta(microseconds=ts_ns // 1000), None)


def fetch(
    coins: list[History], snaps: list[tuple[int, Snapshot]], lower: list[int | None]
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """What the history query returns: rows with lower < ts <= snapshot, by (coin, ts)."""
    index, ts, values = [], [], []
    for i, ((coin, snap), lo) in enumerate(zip(snaps, lower, strict=True)):
        h = coins[coin]
        sel = h.ts <= snap.ts_ns
        if lo is not None:
            sel &= h.ts > lo
        index.append(np.full(int(sel.sum()), i, dtype=np.int64))
        ts.append(h.ts[sel])
        values.append(base_matrix(h, coin)[sel])
    return np.concatenate(index), np.concatenate(ts), np.concatenate(values)


@PROPERTY
@given(
    raw=st.lists(histories(max_rows=45), min_size=1, max_size=4),
    windows=st.sampled_from(WINDOW_CHOICES),
    data=st.data(),
)
def test_streamed_batches_equal_the_reference(
    raw: list[History], windows: tuple[int, ...], data: st.DataObject
) -> None:
    coins = [strictly_increasing(h) for h in raw]
    depth = tail_depth(windows)
    store = HistoryStore(capacity=data.draw(st.integers(1, 5), label="capacity"), depth=depth)
    revealed = [0] * len(coins)
    names = batch_feature_names(windows)
    for _ in range(data.draw(st.integers(1, 10), label="batches")):
        snaps: list[tuple[int, Snapshot]] = []
        positions: list[int] = []
        for c, h in enumerate(coins):
            revealed[c] = min(len(h), revealed[c] + data.draw(st.integers(0, 12)))
            if revealed[c] == 0 or not data.draw(st.booleans(), label="in batch"):
                continue
            pos = revealed[c] - 1
            if data.draw(st.integers(0, 5)) == 0:  # an old snapshot (e.g. reprocessed)
                pos = data.draw(st.integers(0, pos), label="old position")
            snaps.append((c, snapshot(c, int(h.ts[pos]))))
            positions.append(pos)
        if not snaps:
            continue
        lower = [store.lower_bound(s) for _, s in snaps]
        index, ts, values = fetch(coins, snaps, lower)
        inputs = assemble(store, [s for _, s in snaps], lower, index, ts, values)
        # like the pipeline: features only for coins whose snapshot row is a history row
        usable = np.array(
            [i for i in range(len(snaps)) if i not in inputs.snapshot_missing], dtype=np.int64
        )
        tail, prefix = inputs.tail.take(usable), inputs.prefix.take(usable)
        features, got_names = compute_batch_features(tail, prefix, windows)
        assert got_names == names
        base = snapshot_base_values(tail, BASE_COLUMNS)
        row_of = {int(i): r for r, i in enumerate(usable)}
        for i, ((c, _), pos) in enumerate(zip(snaps, positions, strict=True)):
            h = coins[c]
            is_history_row = bool(
                history_row_mask({k: v[pos : pos + 1] for k, v in h.columns.items()})[0]
            )
            assert (i not in inputs.snapshot_missing) == is_history_row
            if not is_history_row:
                continue
            valid_rows = int(
                history_row_mask({k: v[: pos + 1] for k, v in h.columns.items()}).sum()
            )
            assert inputs.history_rows[i] == valid_rows
            r = row_of[i]
            assert_equal_features(features[r], reference_row(h, windows, pos + 1), names)
            raw_row = base_matrix(h, c)[pos]
            want = np.where(np.isfinite(raw_row), raw_row, 0.0)
            np.testing.assert_array_equal(base[r], want)
        assert len(store) <= store.capacity


def test_many_new_rows_take_the_per_coin_path_and_agree() -> None:
    """A cached coin with more than FAST_PATH_MAX_ROWS new rows (e.g. after downtime)."""
    rng = np.random.default_rng(3)
    n = 60
    ts = 1_714_564_800_000_000_000 + np.arange(n, dtype=np.int64) * 5_000_000_000
    columns = {
        name: rng.uniform(0.5, 2.0, n)
        for name in ("price_open", "price_high", "price_low", "price_close", "volume_sol")
    }
    for name in ENGINEERING_INPUT_COLUMNS:
        columns.setdefault(name, rng.uniform(0, 3, n))
    h = History(ts, columns)
    windows = (5, 10, 15)
    store = HistoryStore(capacity=10, depth=tail_depth(windows))
    for pos in (20, 21, 21 + FAST_PATH_MAX_ROWS + 5, n - 1):
        snap = snapshot(0, int(ts[pos]))
        lower = [store.lower_bound(snap)]
        index, rows_ts, values = fetch([h], [(0, snap)], lower)
        inputs = assemble(store, [snap], lower, index, rows_ts, values)
        features, names = compute_batch_features(inputs.tail, inputs.prefix, windows)
        assert_equal_features(features[0], reference_row(h, windows, pos + 1), names)
        assert store.lower_bound(snapshot(0, int(ts[pos]) + 1000)) == int(ts[pos])


def test_depth_change_empties_the_store() -> None:
    store = HistoryStore(capacity=4, depth=6)
    store.claim(["a", "b"])
    assert len(store) == 2
    store.set_depth(6)
    assert len(store) == 2
    store.set_depth(11)
    assert len(store) == 0 and store.width == 10


def test_store_grows_and_evicts_least_recently_used() -> None:
    store = HistoryStore(capacity=3000, depth=3)
    owners = store.claim([f"c{i}" for i in range(2500)])
    assert len(owners) == 2500 and len({s for _, _, s in owners}) == 2500
    store.claim(["c0"])  # touched: now the most recently used
    store.claim([f"n{i}" for i in range(600)])
    assert len(store) == 3000
    assert "c0" in store.slots and "c1" not in store.slots


def test_nbytes_counts_every_allocated_slot_and_doubles_with_the_arrays() -> None:
    store = HistoryStore(capacity=3000, depth=3)
    empty = store.nbytes
    per_slot = empty / len(store.ts)
    assert per_slot >= store.width * 8 * (1 + len(BASE_COLUMNS))  # ts and values at least
    store.claim([f"c{i}" for i in range(len(store.ts))])
    assert store.nbytes == empty  # filling slots allocates nothing
    store.claim(["one-more"])
    assert store.nbytes == pytest.approx(2 * empty)  # the arrays doubled


def test_fewer_slots_than_coins_keeps_the_last_ones() -> None:
    store = HistoryStore(capacity=2, depth=2)
    owners = store.claim(["a", "b", "c"])
    assert [m for _, m, _ in owners] == ["b", "c"]
    assert len({s for _, _, s in owners}) == 2


def test_invalid_sizes_are_refused() -> None:
    with pytest.raises(ValueError):
        HistoryStore(capacity=0)
