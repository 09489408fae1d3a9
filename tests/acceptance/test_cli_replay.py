"""``ml-prediction-service replay`` as a subprocess: a progress bar on stderr, the statistics
JSON on stdout; a failure is one line and exit code 1."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from datetime import timedelta
from pathlib import Path

from tests.support.metrics import T0, coin_rows, insert_metrics
from tests.support.models import TrainedFile
from tests.support.processes import interruptible
from tests.support.statistics_rows import import_model
from tests.support.wait import eventually
from tests.support.world import World


async def _cli(tmp_path: Path, db_dsn: str, *args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "API_", "LOG_"))}
    env.update(DB_DSN=db_dsn, DATA_DIR=str(tmp_path / "cli"), LOG_LEVEL="WARNING")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ml_prediction_service",
        "replay",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_replay_command_shows_progress_and_prints_statistics(
    world: World, trained: dict[str, TrainedFile], tmp_path: Path
) -> None:
    model = await import_model(world, trained["rf"], "rf-cli")
    await insert_metrics(world.pool, coin_rows("CLI1", 30, step_seconds=60, seed=2))
    await insert_metrics(world.pool, coin_rows("CLI2", 20, step_seconds=60, seed=3))
    start, end = T0.isoformat(), (T0 + timedelta(minutes=29)).isoformat()
    code, out, err = await _cli(
        tmp_path, world.db_dsn, str(model["id"]), "--start", start, "--end", end
    )
    assert code == 0, err
    lines = err.strip().splitlines()
    assert lines[0].startswith("replay ") and "50 rows of 2 coins" in lines[0], err
    assert lines[1].startswith("[" + "." * 30 + "]") and "0/50 rows" in lines[1], err
    assert lines[-1] == "[" + "#" * 30 + "] 100%  50/50 rows  2/2 coins", err
    stats = json.loads(out)
    assert stats["source"] == "replay" and stats["active_model_id"] == model["id"]
    replay_id = stats["replay_id"]
    row = await world.pool.fetchrow("SELECT * FROM prediction_replays WHERE id = $1", replay_id)
    assert row["status"] == "done" and row["statistics"] == stats
    n = await world.pool.fetchval(
        "SELECT count(*) FROM prediction_replay_evaluations WHERE replay_id = $1", replay_id
    )
    assert stats["evaluated"] + stats["not_applicable"] == n == 50 - 2 * 4  # MIN_HISTORY_ROWS
    # the API sees the replay the command ran
    got = (await world.api.get(f"/api/replays/{replay_id}")).json()
    assert got["status"] == "done"
    for key in ("evaluated", "alerts", "alerts_true", "alert_precision", "calibration"):
        assert got["statistics"][key] == stats[key], key


async def test_replay_command_failures_are_one_line(
    world: World, trained: dict[str, TrainedFile], tmp_path: Path
) -> None:
    model = await import_model(world, trained["rf"], "rf-cli-bad")
    await insert_metrics(world.pool, coin_rows("CLI3", 20, step_seconds=60))
    end = (T0 + timedelta(minutes=19)).isoformat()
    cases = [
        ((str(model["id"] + 50), "--start", T0.isoformat(), "--end", end), "no imported model"),
        (
            (str(model["id"]), "--start", T0.isoformat(), "--end", end, "--max-rows", "5"),
            "holds 20",
        ),
        ((str(model["id"]), "--start", end, "--end", T0.isoformat()), "end > start"),
    ]
    for args, message in cases:
        code, out, err = await _cli(tmp_path, world.db_dsn, *args)
        assert code == 1 and out == "", (args, out, err)
        assert err.startswith("ml-prediction-service: error: ") and message in err, err
        assert "Traceback" not in err


async def test_ctrl_c_cancels_the_replay(
    world: World, trained: dict[str, TrainedFile], tmp_path: Path
) -> None:
    model = await import_model(world, trained["rf"], "rf-cli-int")
    await insert_metrics(world.pool, coin_rows("CLI4", 20, step_seconds=60))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "API_", "LOG_"))}
    env.update(DB_DSN=world.db_dsn, DATA_DIR=str(tmp_path / "cli"), LOG_LEVEL="WARNING")
    async with world.pool.acquire() as blocker, blocker.transaction():
        # the command's first write waits behind this lock: it is still running at Ctrl-C
        await blocker.execute("LOCK TABLE prediction_replay_evaluations IN EXCLUSIVE MODE")
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "ml_prediction_service",
            "replay",
            str(model["id"]),
            "--start",
            T0.isoformat(),
            "--end",
            (T0 + timedelta(minutes=19)).isoformat(),
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            preexec_fn=interruptible,
        )

        async def waiting() -> bool:
            return bool(
                await world.pool.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND query LIKE '%INSERT INTO prediction_replay_evaluations%'"
                )
            )

        assert await eventually(waiting, 60), "the command never reached its first write"
        proc.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 130, err.decode()
    assert out == b"" and b"Traceback" not in err, err.decode()
    row = await world.pool.fetchrow("SELECT status, error FROM prediction_replays")
    assert row["status"] == "cancelled" and "interrupted" in row["error"], dict(row)
