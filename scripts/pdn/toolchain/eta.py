"""Time left for a toolchain build, from how long each unit took the last time it was built here.

A cold build takes most of an hour, so "about 35 min left" matters more than a package counter.
Every finished build records its wall time in ``build-times.json`` in the toolchain cache; units
never built on this machine fall back to what a cold build took on the reference machine
(2 cores, see docs/toolchain.md).
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from pdn import paths

# Cold build minutes per unit on the reference machine (2 cores, empty Go caches).
REFERENCE_MINUTES = {
    "kubernetes": 10.8,
    "etcd": 1.7,
    "kwok": 3.2,
    "minio": 4.7,
    "pulumi": 8.0,
    "pulumi-resource-kubernetes": 11.5,
    "velero": 9.8,
    "velero-plugin-for-aws": 8.0,
}
DEFAULT_MINUTES = 8.0


def times_file() -> Path:
    return paths.toolchain_dir() / "build-times.json"


def load_times() -> dict[str, float]:
    try:
        data = json.loads(times_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(name): float(seconds) for name, seconds in data.items() if isinstance(seconds, int | float)}


def record_time(unit: str, seconds: float) -> None:
    """Remember a real build's wall time (atomic write; a lost update only costs accuracy)."""
    times = {**load_times(), unit: round(seconds, 1)}
    target = times_file()
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_suffix(".tmp")
    temporary.write_text(json.dumps(times, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    temporary.replace(target)


class BuildClock:
    """Expected seconds per pending unit, and how much of that is still ahead."""

    def __init__(self, pending: list[str], workers: int) -> None:
        measured = load_times()
        self.expected = {
            name: measured.get(name, REFERENCE_MINUTES.get(name, DEFAULT_MINUTES) * 60) for name in pending
        }
        self.workers = max(1, workers)
        self._started: dict[str, float] = {}
        self._finished: set[str] = set()
        self._lock = threading.Lock()

    @property
    def total(self) -> float:
        return sum(self.expected.values())

    def start(self, unit: str, now: float | None = None) -> None:
        with self._lock:
            self._started[unit] = time.monotonic() if now is None else now

    def finish(self, unit: str) -> None:
        with self._lock:
            self._finished.add(unit)

    def done(self, now: float | None = None) -> float:
        """Expected seconds already behind us (a running unit counts up to 95 % of its estimate)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            total = 0.0
            for name, expected in self.expected.items():
                if name in self._finished:
                    total += expected
                elif name in self._started:
                    total += min(now - self._started[name], 0.95 * expected)
            return total

    def seconds_left(self, now: float | None = None) -> float:
        """Wall time left, assuming the parallel builds share the remaining work evenly."""
        with self._lock:
            unfinished = len(self.expected) - len(self._finished)
        return max(0.0, self.total - self.done(now)) / max(1, min(self.workers, unfinished))


def describe_left(seconds: float) -> str:
    if seconds < 60:
        return "under a minute left"
    return f"about {seconds / 60:.0f} min left"
