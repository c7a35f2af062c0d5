"""Progress of a long step: rich's display on a terminal, plain lines in a CI log or a file.

rich's progress bars draw nothing useful when the output is no terminal, so a step that runs for
minutes would print nothing at all into a CI log. :class:`StepProgress` wraps one rich
``Progress`` and, when the console is no terminal, prints a line when the step starts, at least
every :data:`PLAIN_PROGRESS_EVERY` seconds from a background thread (also when no update comes,
as during a ``podman build``) and when it ends::

    [copy app-1 → mig-app-1] 412/1,000 objects, 1m 05s, ~1 min left
    [pod images] still running, 2m 30s, ~1 min left

The time left comes from the rate so far when the total is known, else from how long the same
step (``key``) took the last time it finished on this machine (``progress.json`` in the cache).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from rich import filesize
from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from pdn import paths
from pdn.console import console as default_console

PLAIN_PROGRESS_EVERY = 30.0  # seconds between plain progress lines when the output is no terminal
TICK = 1.0  # how often the background thread looks: a line comes every PLAIN_PROGRESS_EVERY s or sooner
RECORD_AFTER = 10.0  # a step done sooner (it found its work done) is no estimate for a real run

Line = Callable[[], str]


def history_file() -> Path:
    return paths.cache_dir() / "progress.json"


def _load_history() -> dict[str, dict[str, float]]:
    try:
        data = json.loads(history_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {
        str(key): {name: float(value) for name, value in entry.items() if isinstance(value, int | float)}
        for key, entry in data.items()
        if isinstance(entry, dict)
    }


def _record(key: str, seconds: float, total: float) -> None:
    """Remember how long ``key`` took and how far it counted (atomic; a lost update costs accuracy only)."""
    try:
        history = {**_load_history(), key: {"seconds": round(seconds, 1), "total": total}}
        target = history_file()
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_suffix(f".{threading.get_ident()}.tmp")
        temporary.write_text(json.dumps(history, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        temporary.replace(target)
    except OSError:
        pass  # progress estimates are a nicety: a read-only cache never fails the step


def duration(seconds: float) -> str:
    """``42 s``, ``3m 05s``, ``1h 02m``."""
    whole = int(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60}m {whole % 60:02d}s"
    return f"{whole // 3600}h {whole % 3600 // 60:02d}m"


def left(seconds: float) -> str:
    return f"~{seconds:.0f} s left" if seconds < 60 else f"~{seconds / 60:.0f} min left"


def _count(value: float, unit: str) -> str:
    """``1,234 files``; bytes as ``12.3 MB``."""
    if unit == "bytes":
        return filesize.decimal(int(value))
    return f"{value:,.0f}" + (f" {unit}" if unit else "")


class StepProgress:
    """One long step (``with StepProgress("stack up site-a", unit="resources") as step: ...``).

    ``total`` is what ``done`` counts up to (None: unknown); ``line`` replaces the periodic plain
    line's text (for a step that knows better what to say); ``log`` gets every plain line too
    (also on a terminal); ``key`` names the step across runs for the time-left estimate.
    ``columns``/``transient``/``disable`` go to rich's ``Progress`` and ``fields`` to its task
    (for the columns' ``{task.fields[...]}``); :attr:`progress` and
    :attr:`task` are there for a step that shows more than one bar.
    """

    def __init__(
        self,
        what: str,
        *,
        total: float | None = None,
        unit: str = "",
        key: str | None = None,
        console: Console | None = None,
        columns: Sequence[str | ProgressColumn] = (),
        transient: bool = False,
        disable: bool = False,
        every: float | None = None,
        line: Line | None = None,
        log: Callable[[str], object] | None = None,
        fields: dict[str, Any] | None = None,
    ) -> None:
        self.what = what
        self.unit = unit
        self.key = key
        self.console = console or default_console
        self.every = PLAIN_PROGRESS_EVERY if every is None else every
        self._line = line
        self._log = log
        self._plain = not self.console.is_terminal and not disable
        self._total = total
        self._done = 0.0
        self._doing = ""
        self._started = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        remembered = _load_history().get(key, {}) if key else {}
        self._expected_seconds = remembered.get("seconds")
        self._expected_total = remembered.get("total") if total is None else None
        self.progress = Progress(
            *(columns or _default_columns()), console=self.console, transient=transient, disable=disable
        )
        self.task: TaskID = self.progress.add_task(what, total=total, **(fields or {}))

    # -- updates (safe from any thread) --------------------------------------------------------
    def advance(self, amount: float = 1.0) -> None:
        with self._lock:
            self._done += amount
        self.progress.advance(self.task, amount)

    def update(
        self,
        *,
        completed: float | None = None,
        total: float | None = None,
        doing: str | None = None,
        description: str | None = None,
        **fields: Any,
    ) -> None:
        """Set how far the step is (``doing``: what it does right now, for the plain line)."""
        with self._lock:
            if completed is not None:
                self._done = completed
            if total is not None:
                self._total = total
            if doing is not None:
                self._doing = doing
        extra: dict[str, Any] = dict(fields)
        if description is not None:
            extra["description"] = description
        self.progress.update(self.task, completed=completed, total=total, **extra)

    @property
    def done(self) -> float:
        with self._lock:
            return self._done

    # -- plain lines ---------------------------------------------------------------------------
    def seconds_left(self, now: float | None = None) -> float | None:
        """From the rate so far when the total is known, else from the last run of ``key``."""
        elapsed = (time.monotonic() if now is None else now) - self._started
        with self._lock:
            done, total = self._done, self._total or self._expected_total
        if total and 0 < done <= total:
            return elapsed * (total - done) / done
        if self._expected_seconds is not None:
            return max(0.0, self._expected_seconds - elapsed)
        return None

    def status_line(self, now: float | None = None) -> str:
        """``[what] 7/10 files, 1m 05s, ~40 s left; doing`` (or ``... still running, 1m 05s``)."""
        if self._line is not None:
            return self._line()
        now = time.monotonic() if now is None else now
        elapsed = duration(now - self._started)
        with self._lock:
            done, total, doing = self._done, self._total, self._doing
        if total:
            parts = [_of(done, total, self.unit), elapsed]
        elif self._expected_total:
            parts = [_of(done, self._expected_total, self.unit, "~"), elapsed]
        elif done:
            parts = [_count(done, self.unit), f"still running, {elapsed}"]
        else:
            parts = [f"still running, {elapsed}"]
        remaining = self.seconds_left(now)
        if remaining is not None:
            parts.append(left(remaining))
        return f"[{self.what}] {', '.join(parts)}" + (f"; {doing}" if doing else "")

    def say(self, text: str) -> None:
        """One plain line: to the console when it is no terminal, and to the step's log."""
        if self._plain:
            self.console.print(text, highlight=False, markup=False, soft_wrap=True)
        if self._log is not None:
            self._log(text)

    def _tick(self) -> None:
        last = self._started
        while not self._stop.wait(TICK):
            now = time.monotonic()
            if now + TICK > last + self.every:  # the next look would come too late
                self.say(self.status_line(now))
                last = now

    # -- context manager -----------------------------------------------------------------------
    def __enter__(self) -> StepProgress:
        self._started = time.monotonic()
        self.progress.start()
        with self._lock:
            total = self._total
        estimate = f", {_count(total, self.unit)}" if total else ""
        self.say(f"[{self.what}] started{estimate}")
        if self._plain or self._log is not None:
            self._thread = threading.Thread(target=self._tick, name=f"progress {self.what}", daemon=True)
            self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.progress.stop()
        elapsed = time.monotonic() - self._started
        with self._lock:
            done, total = self._done, self._total
        if kind is not None:
            self.say(f"[{self.what}] failed after {duration(elapsed)}")
            return
        count = _of(done, total, self.unit) if total else (_count(done, self.unit) if done else "")
        self.say(f"[{self.what}] done{': ' + count if count else ''} in {duration(elapsed)}")
        if self.key and elapsed >= RECORD_AFTER:
            _record(self.key, elapsed, done)


def _of(done: float, total: float, unit: str, about: str = "") -> str:
    """``7/10 files``, ``7/~10 files``, ``1.2 MB/~3.4 MB``."""
    if unit == "bytes":
        return f"{_count(done, unit)}/{about}{_count(total, unit)}"
    return f"{done:,.0f}/{about}{_count(total, unit)}"


def _default_columns() -> tuple[ProgressColumn, ...]:
    return (SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(), TimeElapsedColumn())


__all__ = ["PLAIN_PROGRESS_EVERY", "StepProgress", "duration", "left"]
