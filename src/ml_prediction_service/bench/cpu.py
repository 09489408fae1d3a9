"""CPU time of the benchmark's parts: this process (the service) and its PostgreSQL server
(the postmaster, the backends alive now and those it has reaped), from ``/proc``. A
machine-independent-ish cost per event beside events/s, which the other load on a shared
machine moves more."""

from __future__ import annotations

import os
import time
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat_times(pid: int) -> tuple[int, float] | None:
    """(parent pid, utime + stime + cutime + cstime in seconds) of ``pid``; None if gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    # fields[0] is the state (field 3): ppid is field 4, utime..cstime fields 14-17
    return int(fields[1]), sum(int(f) for f in fields[11:15]) / _TICK


def postgres_cpu_seconds(pgdata: Path) -> float | None:
    """CPU seconds used so far by the server of ``pgdata`` and its processes (None where
    ``/proc`` or ``postmaster.pid`` is not there)."""
    try:
        postmaster = int((pgdata / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    own = _stat_times(postmaster)
    if own is None:
        return None
    total = own[1]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != postmaster:
            found = _stat_times(int(entry.name))
            if found is not None and found[0] == postmaster:
                total += found[1]
    return total


class CpuMeter:
    """CPU seconds of this process and of the PostgreSQL server between start and stop."""

    def __init__(self, pgdata: Path) -> None:
        self.pgdata = pgdata
        self.service0 = time.process_time()
        self.postgres0 = postgres_cpu_seconds(pgdata)

    def per_event_ms(self, events: int) -> dict[str, float | None]:
        service = time.process_time() - self.service0
        now = postgres_cpu_seconds(self.pgdata)
        postgres = now - self.postgres0 if now is not None and self.postgres0 is not None else None
        n = max(events, 1)
        return {
            "service": round(1000 * service / n, 3),
            "postgres": round(1000 * postgres / n, 3) if postgres is not None else None,
            "total": round(1000 * (service + postgres) / n, 3) if postgres is not None else None,
        }
