"""Where the CPU went during a run: this client, its server backends, the rest.

Linux only (reads /proc); with a remote server the backends' share is unknown.
Figures are in cores (1.0 = one core busy for the whole interval).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from collections.abc import Sequence

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _machine() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs since boot."""
    with open("/proc/stat", encoding="ascii") as stat:
        fields = [float(x) for x in stat.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def _process(pid: int) -> float:
    """CPU seconds (user + system) a process used so far; 0 if unreadable."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            after_name = stat.read().rsplit(")", 1)[1].split()
        return (float(after_name[11]) + float(after_name[12])) / _TICK
    return 0.0


@dataclasses.dataclass(frozen=True, slots=True)
class CpuUse:
    machine: float  # cores busy, every process on the machine
    client: float  # cores used by this Python process
    backends: float  # cores used by the server processes serving our connections

    @property
    def others(self) -> float:
        return max(self.machine - self.client - self.backends, 0.0)


@dataclasses.dataclass(slots=True)
class Meter:
    """Start it, run the work, stop it with the backend pids of the run."""

    _wall: float = 0.0
    _busy: float = 0.0
    _total: float = 0.0
    _client: float = 0.0
    _backends: dict[int, float] = dataclasses.field(default_factory=dict)

    def start(self, backend_pids: Sequence[int]) -> None:
        self._backends = {pid: _process(pid) for pid in backend_pids}
        times = os.times()
        self._client = times.user + times.system
        with contextlib.suppress(OSError):
            self._busy, self._total = _machine()
        self._wall = time.perf_counter()

    def stop(self) -> CpuUse:
        wall = time.perf_counter() - self._wall
        times = os.times()
        client = times.user + times.system - self._client
        backends = sum(_process(pid) - t for pid, t in self._backends.items())
        machine = 0.0
        with contextlib.suppress(OSError):
            busy, total = _machine()
            cores = os.cpu_count() or 1
            if total > self._total:
                machine = (busy - self._busy) / (total - self._total) * cores
        return CpuUse(machine, client / wall, backends / wall)
