"""Replay of one model over stored ``coin_metrics`` history (docs/evaluation.md "Replay").

Every row of ``[start, end]`` is treated as the event the collector's INSERT would have been:
the same history store, feature code and model runtime as the live pipeline
(``pipeline.history.assemble`` + ``pipeline.predictor.predict_batch``, fed exactly what the
worker's history query returns for that event), the same decision rule
(``models.decision``), and the same outcome rule (``rules.evaluate``) on the coin's rows up to
the horizon. Nothing goes to ``predictions`` and nothing is sent; each replayed prediction and
its outcome is one row of ``prediction_replay_evaluations``.

Coins are processed in chunks (about ``CHUNK_ROWS`` history rows, at most ``CHUNK_COINS``
coins): one history query per chunk, then all the CPU work of the chunk in a worker thread,
stepping through the coins' rows in time order (step k = each coin's k-th row, one batch), so
the event loop — and the live pipeline beside it — keeps running.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import numpy as np

from ml_prediction_service.arrays import BoolArray, FloatArray, IntArray
from ml_prediction_service.db import metrics_repo, replays_repo
from ml_prediction_service.db.replays_repo import CoinPlan
from ml_prediction_service.evaluation import rules
from ml_prediction_service.evaluation.statistics import NOT_EVALUABLE, model_statistics
from ml_prediction_service.models.registry import ActiveModel
from ml_prediction_service.pipeline.history import (
    COLUMN_INDEX,
    EPOCH,
    HistoryStore,
    Snapshot,
    assemble,
)
from ml_prediction_service.pipeline.predictor import predict_batch

logger = logging.getLogger(__name__)

CHUNK_ROWS = 100_000
"""History rows read per chunk of coins (each coin's rows from its first one: the chunk's
whole histories are in memory at once, ~1 KB per row while they are driver records)."""
CHUNK_COINS = 1000

_NS_PER_MINUTE = 60 * 1_000_000_000
_NOT_READ = "coin_metrics column the service reads"  # the live evaluator's words
_PHASE = COLUMN_INDEX["phase_id_at_time"]

PENDING_NOTE = (
    "the horizon had not passed when the replay ran (no row after it yet, and less than "
    "EVALUATION_DEAD_COIN_SECONDS since): the live evaluator would still wait"
)


def to_datetime(ns: int) -> datetime:
    """Epoch nanoseconds (microsecond resolution) → an aware datetime, exactly."""
    return EPOCH + timedelta(microseconds=ns // 1000)


@dataclass(frozen=True)
class ReplayConfig:
    """What a replay needs besides the model: the live pipeline's history depth and
    ``MIN_HISTORY_ROWS``, the evaluator's dead-coin wait, and the bounds."""

    depth: int
    min_history_rows: int
    dead_coin_seconds: float
    max_rows: int
    max_seconds: float


@dataclass
class Progress:
    coins_done: int = 0
    coins_total: int = 0
    rows_done: int = 0
    rows_total: int = 0


@dataclass
class ChunkPredictions:
    """The replayed predictions of one chunk (positions into the chunk's fetched rows)."""

    rows: IntArray  # position of the prediction's row in the fetched arrays
    raw: FloatArray  # the model's probability
    probability: FloatArray  # as stored (4 decimals)
    prediction: IntArray
    is_alert: BoolArray
    snapshots: int = 0  # rows of the range handled (predicted or skipped)
    errors: list[str] = field(default_factory=list)
    stopped: bool = False  # the deadline passed or the replay was cancelled mid-chunk


def snapshot_positions(
    starts: IntArray, counts: IntArray, ts: IntArray, start_ns: int, end_ns: int
) -> list[IntArray]:
    """Per coin, the positions of its rows in ``[start_ns, end_ns]`` — one per timestamp
    (of duplicates the last, as the history query returns them)."""
    out = []
    for s, n in zip(starts.tolist(), counts.tolist(), strict=True):
        t = ts[s : s + n]
        lo = int(np.searchsorted(t, start_ns, side="left"))
        hi = int(np.searchsorted(t, end_ns, side="right"))
        pos = np.arange(lo, hi, dtype=np.int64)
        if len(pos) > 1:
            pos = pos[np.append(t[pos[1:]] != t[pos[:-1]], True)]
        out.append(pos + s)
    return out


def predict_chunk(
    model: ActiveModel,
    mints: list[str],
    coin_index: IntArray,
    ts: IntArray,
    values: FloatArray,
    start_ns: int,
    end_ns: int,
    config: ReplayConfig,
    *,
    deadline: float,
    stop: threading.Event,
    live: Progress | None = None,
) -> ChunkPredictions:
    """Every row of ``[start_ns, end_ns]`` of these coins as an event of the live pipeline.

    ``coin_index``/``ts``/``values``: the coins' rows from their first one on, ordered by
    (coin, time), as ``metrics_repo.history_arrays`` gives them. Step k is one batch of each
    coin's k-th row; the history store gets for each event what the worker's history query
    would return (the rows after the coin's cached ones up to the event, or its whole history
    as of the event), so the features are the live ones.
    """
    n = len(mints)
    counts = np.bincount(coin_index, minlength=n).astype(np.int64)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)
    snaps = snapshot_positions(starts, counts, ts, start_ns, end_ns)
    lengths = np.array([len(p) for p in snaps], dtype=np.int64)
    store = HistoryStore(capacity=max(n, 1), depth=config.depth)
    out_rows: list[IntArray] = []
    decisions: list[tuple[FloatArray, FloatArray, IntArray, BoolArray]] = []
    result = ChunkPredictions(
        rows=np.empty(0, dtype=np.int64),
        raw=np.empty(0),
        probability=np.empty(0),
        prediction=np.empty(0, dtype=np.int64),
        is_alert=np.empty(0, dtype=bool),
    )
    for k in range(int(lengths.max()) if n else 0):
        if stop.is_set() or time.monotonic() > deadline:
            result.stopped = True
            break
        coins = np.flatnonzero(lengths > k)
        positions = np.array([snaps[c][k] for c in coins.tolist()], dtype=np.int64)
        snapshots = []
        for c, p in zip(coins.tolist(), positions.tolist(), strict=True):
            phase = values[p, _PHASE]
            snapshots.append(
                Snapshot(mints[c], to_datetime(int(ts[p])), None if np.isnan(phase) else int(phase))
            )
        lower = [store.lower_bound(s) for s in snapshots]
        pieces = []
        for c, p, lo in zip(coins.tolist(), positions.tolist(), lower, strict=True):
            first = int(starts[c])
            if lo is not None:
                first += int(np.searchsorted(ts[first : p + 1], lo, side="right"))
            pieces.append(np.arange(first, p + 1, dtype=np.int64))
        take = np.concatenate(pieces)
        batch_coin = np.repeat(np.arange(len(coins)), [len(x) for x in pieces])
        inputs = assemble(store, snapshots, lower, batch_coin, ts[take], values[take])
        outcome = predict_batch(inputs, [model], min_history_rows=config.min_history_rows)
        result.snapshots += len(coins)
        if live is not None:
            live.rows_done += len(coins)  # read by the event loop while this runs
        for error in outcome.model_errors.values():
            result.errors.append(f"{snapshots[0].timestamp.isoformat()}: {error}")
        for r in outcome.results:
            out_rows.append(positions[r.coins])
            d = r.decisions
            decisions.append((d.raw, d.probability, d.prediction, d.is_alert))
    if out_rows:
        result.rows = np.concatenate(out_rows)
        result.raw = np.concatenate([d[0] for d in decisions])
        result.probability = np.concatenate([d[1] for d in decisions])
        result.prediction = np.concatenate([d[2] for d in decisions]).astype(np.int64)
        result.is_alert = np.concatenate([d[3] for d in decisions]).astype(bool)
    return result


@dataclass
class Windows:
    """Vectorised ``rules.facts_from_rows`` for many prediction rows of one coin's rows."""

    end: IntArray  # index of the newest row at or before the horizon
    max_i: IntArray  # index of the highest finite value in (row, horizon], -1: none
    min_i: IntArray


def window_indices(t: IntArray, v: FloatArray, rows: IntArray, horizon_ns: IntArray) -> Windows:
    """For rows ``rows`` of one coin (``t`` its timestamps in order, ``v`` its target values):
    the end row and the extremes inside ``(row, horizon]`` exactly as ``rules.facts_from_rows``
    picks them (non-finite values skipped, the earliest row on a tie)."""
    end = np.maximum(np.searchsorted(t, horizon_ns, side="right") - 1, rows)
    max_i = np.full(len(rows), -1, dtype=np.int64)
    min_i = np.full(len(rows), -1, dtype=np.int64)
    max_v = np.full(len(rows), np.nan)
    min_v = np.full(len(rows), np.nan)
    span = int((end - rows).max()) if len(rows) else 0
    for k in range(1, span + 1):
        j = rows + k
        inside = j <= end
        val = v[np.minimum(j, len(v) - 1)]
        ok = inside & np.isfinite(val)
        higher = ok & ((max_i < 0) | (val > max_v))
        lower = ok & ((min_i < 0) | (val < min_v))
        max_v = np.where(higher, val, max_v)
        max_i = np.where(higher, j, max_i)
        min_v = np.where(lower, val, min_v)
        min_i = np.where(lower, j, min_i)
    return Windows(end, max_i, min_i)


def _not_applicable(note: str) -> rules.Outcome:
    return rules.Outcome("not_applicable", None, None, None, None, None, None, note)


@dataclass
class EvaluationRows:
    """Rows of ``prediction_replay_evaluations`` without the replay id, the coin as its index
    into the chunk's coins (``replays_repo.EVALUATION_COLUMNS`` order)."""

    rows: list[tuple[Any, ...]] = field(default_factory=list)

    def add(
        self,
        coin: int,
        ts: datetime,
        probability: float,
        prediction: int,
        is_alert: bool,
        horizon: datetime | None,
        facts: rules.WindowFacts | None,
        outcome: rules.Outcome,
    ) -> None:
        start = end = end_ts = None
        if facts is not None:
            start, end, end_ts = facts.start_value, facts.end_value, facts.end_timestamp
        self.rows.append(
            (
                coin,
                ts,
                probability,
                prediction,
                is_alert,
                horizon,
                start,
                end,
                end_ts,
                outcome.realised_change_pct,
                outcome.max_change_pct,
                outcome.max_at,
                outcome.min_change_pct,
                outcome.min_at,
                outcome.target_hit,
                outcome.result,
                outcome.note,
            )
        )


def target_of(model: ActiveModel) -> rules.EvaluationTarget:
    r = model.record
    return rules.EvaluationTarget(
        future_minutes=r.future_minutes,
        price_change_percent=r.price_change_percent,
        target_direction=r.target_direction,
        target_operator=r.target_operator,
        target_value=r.target_value,
    )


def evaluate_chunk(
    model: ActiveModel,
    coin_index: IntArray,
    ts: IntArray,
    values: FloatArray,
    found: ChunkPredictions,
    newest: list[datetime | None],
    *,
    now: datetime,
    dead_coin_seconds: float,
) -> EvaluationRows:
    """The outcome of every replayed prediction of a chunk by ``rules.evaluate``.

    ``newest``: each coin's newest row overall (the live evaluator's "rows after the horizon"
    test). A model without a horizon gets ``not_applicable`` rows (its predictions and alerts
    are still counted); a horizon that had not passed yet (no row after it, and less than
    ``dead_coin_seconds`` ago) too, with a note — the live evaluator would still wait.
    """
    out = EvaluationRows()
    target = target_of(model)
    column = COLUMN_INDEX.get(model.record.target_variable)
    order = np.lexsort((found.rows, coin_index[found.rows]))
    rows = found.rows[order]
    coins = coin_index[rows]
    n = len(newest)
    counts = np.bincount(coin_index, minlength=n)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)
    dead_wait = timedelta(seconds=dead_coin_seconds)
    probability = found.probability.tolist()
    prediction = found.prediction.tolist()
    is_alert = found.is_alert.tolist()
    for c in np.unique(coins).tolist():
        mine = order[coins == c]
        local_rows = found.rows[mine] - starts[c]
        s, e = int(starts[c]), int(starts[c] + counts[c])
        t = ts[s:e]
        stamps = [EPOCH + timedelta(microseconds=us) for us in (t // 1000).tolist()]
        windows = None
        if target.has_horizon and column is not None:
            horizon_ns = t[local_rows] + int(target.future_minutes or 0) * _NS_PER_MINUTE
            v = values[s:e, column]
            windows = window_indices(t, v, local_rows, horizon_ns)
            vs = [None if x != x else x for x in v.tolist()]  # NaN (NULL) → None
            ends, highs, lows = (w.tolist() for w in (windows.end, windows.max_i, windows.min_i))
        for i, (row, j) in enumerate(zip(local_rows.tolist(), mine.tolist(), strict=True)):
            stamp = stamps[row]
            horizon = target.horizon_at(stamp)
            facts = None
            if horizon is None:
                outcome = _not_applicable(NOT_EVALUABLE)
            elif windows is None:
                variable = model.record.target_variable
                note = (
                    f"target variable {variable!r} is not a coin_metrics column the service reads"
                )
                outcome = _not_applicable(note)
            else:
                mx, mn, end = highs[i], lows[i], ends[i]
                facts = rules.WindowFacts(
                    start_value=vs[row],
                    end_value=vs[end],
                    end_timestamp=stamps[end],
                    max_value=vs[mx] if mx >= 0 else None,
                    max_at=stamps[mx] if mx >= 0 else None,
                    min_value=vs[mn] if mn >= 0 else None,
                    min_at=stamps[mn] if mn >= 0 else None,
                    last_timestamp=newest[c],
                )
                if rules.is_dead(facts, horizon) and now < horizon + dead_wait:
                    outcome = _not_applicable(PENDING_NOTE)
                else:
                    outcome = rules.evaluate(facts, target, prediction[j], horizon)
            out.add(c, stamp, probability[j], prediction[j], is_alert[j], horizon, facts, outcome)
    return out


# -- the run -------------------------------------------------------------------------------


ProgressCallback = Callable[[Progress], Awaitable[None] | None]


class ReplayStopped(Exception):
    """The replay hit a bound (time or rows): the message says which and what to do."""


def chunks(plan: CoinPlan, history: list[int]) -> list[list[str]]:
    """The plan's coins (most range rows first) in chunks whose history reads return about
    ``CHUNK_ROWS`` rows together (``history``: per coin; a longer coin is a chunk of its own),
    at most ``CHUNK_COINS`` coins each."""
    out: list[list[str]] = []
    mints: list[str] = []
    rows = 0
    for mint, n in zip(plan.mints, history, strict=True):
        if mints and (rows + n > CHUNK_ROWS or len(mints) >= CHUNK_COINS):
            out.append(mints)
            mints, rows = [], 0
        mints.append(mint)
        rows += n
    if mints:
        out.append(mints)
    return out


PROGRESS_SECONDS = 1.0
"""How often a running chunk's progress is written (and shown) while its thread works."""


async def _report(
    conn: asyncpg.Connection,
    replay_id: int,
    progress: Progress,
    on_progress: ProgressCallback | None,
) -> None:
    await replays_repo.progress(
        conn,
        replay_id,
        coins_done=progress.coins_done,
        rows_done=progress.rows_done,
        rows_total=max(progress.rows_total, progress.rows_done),
    )
    if on_progress is not None:
        shown = on_progress(progress)
        if shown is not None:
            await shown


def statistics_bucket(start: datetime, end: datetime) -> str:
    """Precision over time per hour for a replay of up to two days, else per day."""
    return "hour" if end - start <= timedelta(days=2) else "day"


async def run_replay(
    conn: asyncpg.Connection,
    replay_id: int,
    model: ActiveModel,
    plan: CoinPlan,
    start: datetime,
    end: datetime,
    config: ReplayConfig,
    executor: Executor,
    *,
    on_progress: ProgressCallback | None = None,
) -> None:
    """Run replay ``replay_id`` (its row exists, ``pending``) to its end on ``conn``.

    Ends ``done`` (statistics stored), ``failed`` (a bound or an error; the message says
    which) or, when cancelled, ``cancelled`` (then re-raises ``CancelledError``).
    """
    stop = threading.Event()
    progress = Progress(coins_total=len(plan.mints), rows_total=plan.total_rows)
    deadline = time.monotonic() + config.max_seconds
    future_minutes = model.record.future_minutes or 0
    upper = end + timedelta(minutes=future_minutes)
    start_ns = (start - EPOCH) // timedelta(microseconds=1) * 1000
    end_ns = (end - EPOCH) // timedelta(microseconds=1) * 1000
    errors: list[str] = []
    loop = asyncio.get_running_loop()
    work: asyncio.Future[tuple[ChunkPredictions, EvaluationRows]] | None = None
    try:
        await replays_repo.start(conn, replay_id)
        history = await replays_repo.history_rows(conn, plan.mints, upper)
        for mints in chunks(plan, history):
            records = await metrics_repo.fetch_history_records(
                conn, mints, [None] * len(mints), [upper] * len(mints)
            )
            newest_by_mint = await replays_repo.newest_timestamps(conn, mints)
            newest: list[datetime | None] = [newest_by_mint.get(m) for m in mints]
            now = await conn.fetchval("SELECT now()")

            live = Progress(rows_done=progress.rows_done)

            def compute(
                mints: list[str] = mints,
                records: list[asyncpg.Record] = records,
                newest: list[datetime | None] = newest,
                now: datetime = now,
                live: Progress = live,
            ) -> tuple[ChunkPredictions, EvaluationRows]:
                coin_index, ts, values = metrics_repo.history_arrays(records)
                found = predict_chunk(
                    model,
                    mints,
                    coin_index,
                    ts,
                    values,
                    start_ns,
                    end_ns,
                    config,
                    deadline=deadline,
                    stop=stop,
                    live=live,
                )
                evaluated = evaluate_chunk(
                    model,
                    coin_index,
                    ts,
                    values,
                    found,
                    newest,
                    now=now,
                    dead_coin_seconds=config.dead_coin_seconds,
                )
                return found, evaluated

            work = loop.run_in_executor(executor, compute)
            while not work.done():
                await asyncio.wait([work], timeout=PROGRESS_SECONDS)
                if not work.done() and live.rows_done > progress.rows_done:
                    progress.rows_done = live.rows_done
                    await _report(conn, replay_id, progress, on_progress)
            found, evaluated = work.result()
            work = None
            progress.rows_done = live.rows_done
            await replays_repo.insert_evaluations(conn, replay_id, mints, evaluated.rows)
            errors.extend(found.errors)
            progress.rows_total = max(progress.rows_total, progress.rows_done)
            if not found.stopped:
                progress.coins_done += len(mints)
            await _report(conn, replay_id, progress, on_progress)
            if found.stopped:
                raise ReplayStopped(
                    f"stopped after max_seconds {config.max_seconds:g} s (REPLAY_MAX_SECONDS): "
                    f"{progress.rows_done} of {progress.rows_total} rows replayed (their "
                    "rows are kept, no statistics): replay a shorter range"
                )
            if progress.rows_done > config.max_rows:
                raise ReplayStopped(
                    f"the range grew past max_rows {config.max_rows} while replaying "
                    f"({progress.rows_done} rows so far): replay a shorter range"
                )
        stats = await model_statistics(
            conn, replay_id=replay_id, bucket=statistics_bucket(start, end)
        )
        error = None
        if errors:
            error = f"the model failed on {len(errors)} batch(es), skipped: first {errors[0]}"
        await replays_repo.finish(conn, replay_id, "done", error=error, statistics=stats.to_dict())
        logger.info(
            "replay %s of model %s done: %d rows, %d coins",
            replay_id,
            model.id,
            progress.rows_done,
            progress.coins_done,
        )
    except asyncio.CancelledError:
        stop.set()
        if work is not None:
            # the thread stops at its next step; wait for it so nothing runs after us
            await asyncio.shield(asyncio.wait([work]))
        await asyncio.shield(
            replays_repo.finish(
                conn,
                replay_id,
                "cancelled",
                error="cancelled (the service stopped or the command was interrupted) after "
                f"{progress.rows_done} of {progress.rows_total} rows; start a new replay",
            )
        )
        logger.info("replay %s cancelled", replay_id)
        raise
    except ReplayStopped as exc:
        await replays_repo.finish(conn, replay_id, "failed", error=str(exc))
        logger.warning("replay %s failed: %s", replay_id, exc)
    except Exception as exc:
        logger.exception("replay %s failed", replay_id)
        await replays_repo.finish(conn, replay_id, "failed", error=f"{type(exc).__name__}: {exc}")
