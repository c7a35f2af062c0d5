"""Plain progress lines of long steps when the output is no terminal (pdn.progress)."""

from __future__ import annotations

import io
import re
import time
from pathlib import Path

import pytest
from rich.console import Console

from pdn import progress as progress_module
from pdn.progress import StepProgress, duration


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PDN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(progress_module, "TICK", 0.02)


def plain_console() -> tuple[Console, io.StringIO]:
    output = io.StringIO()
    return Console(file=output, force_terminal=False, width=200), output


def lines_of(output: io.StringIO, what: str) -> list[str]:
    return [line for line in output.getvalue().splitlines() if line.startswith(f"[{what}]")]


def test_a_plain_line_appears_without_any_update(monkeypatch: pytest.MonkeyPatch) -> None:
    """A step that reports nothing (a podman build) still shows it is alive, with its elapsed time."""
    monkeypatch.setattr(progress_module, "PLAIN_PROGRESS_EVERY", 0.05)
    console, output = plain_console()
    with StepProgress("image build", console=console):
        time.sleep(0.4)
    lines = lines_of(output, "image build")
    assert lines[0] == "[image build] started"
    running = [line for line in lines if "still running" in line]
    assert len(running) >= 2, output.getvalue()
    assert re.fullmatch(r"\[image build\] still running, \d+ s", running[0])
    assert re.fullmatch(r"\[image build\] done in \d+ s", lines[-1])


def test_the_line_has_done_of_total_and_time_left_once_there_is_progress() -> None:
    console, output = plain_console()
    with StepProgress("copy app-1", total=1000, unit="objects", console=console, every=0.05) as step:
        step.update(completed=250, doing="big.bin")
        time.sleep(0.3)
    periodic = [line for line in lines_of(output, "copy app-1") if "250/1,000 objects" in line]
    assert periodic, output.getvalue()
    assert re.fullmatch(r"\[copy app-1\] 250/1,000 objects, \d+ s, ~\d+ s left; big\.bin", periodic[0])
    assert lines_of(output, "copy app-1")[-1].startswith("[copy app-1] done: 250/1,000 objects in ")


def test_time_left_is_three_times_the_elapsed_time_at_a_quarter() -> None:
    console, _ = plain_console()
    step = StepProgress("stack up", total=100, unit="resources", console=console, every=3600)
    with step:
        step.advance(25)
        start = step._started
        assert step.seconds_left(now=start + 60) == pytest.approx(180)
        assert step.status_line(now=start + 60) == "[stack up] 25/100 resources, 1m 00s, ~3 min left"


def test_without_a_total_the_last_run_of_the_same_step_gives_the_estimate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress_module, "RECORD_AFTER", 0.0)
    console, output = plain_console()
    with StepProgress("harden site-a", unit="tasks", key="harden site-a", console=console, every=3600) as first:
        first.advance(40)
    assert "done: 40 tasks in 0 s" in output.getvalue()
    again = StepProgress("harden site-a", unit="tasks", key="harden site-a", console=console, every=3600)
    with again:
        again.advance(10)
        line = again.status_line(now=again._started + 30)
    assert line.startswith("[harden site-a] 10/~40 tasks, 30 s, ~"), line
    assert again.seconds_left(now=again._started + 30) == pytest.approx(90)


def test_a_quick_run_leaves_the_estimate_of_the_last_long_one() -> None:
    """A step that found its work done (a cached image) says nothing about how long a build takes."""
    console, _ = plain_console()
    with StepProgress("image build", key="image build", console=console, every=3600):
        pass
    assert not progress_module.history_file().exists()


def test_bytes_read_as_sizes() -> None:
    console, _ = plain_console()
    step = StepProgress("copy app-1", total=4_000_000, unit="bytes", console=console, every=3600)
    with step:
        step.advance(1_000_000)
        assert step.status_line(now=step._started + 10) == "[copy app-1] 1.0 MB/4.0 MB, 10 s, ~30 s left"


def test_a_failed_step_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress_module, "RECORD_AFTER", 0.0)
    console, output = plain_console()
    with pytest.raises(RuntimeError), StepProgress("drill", key="drill", console=console, every=3600):
        raise RuntimeError("boom")
    assert lines_of(output, "drill")[-1].startswith("[drill] failed after ")
    assert not progress_module.history_file().exists()  # a failed run is no estimate


def test_nothing_plain_on_a_terminal_but_the_log_gets_the_lines() -> None:
    output = io.StringIO()
    terminal = Console(file=output, force_terminal=True, width=120)
    logged: list[str] = []
    with StepProgress("node start", total=4, unit="steps", console=terminal, every=0.05, log=logged.append) as step:
        step.advance(2)
        time.sleep(0.3)
    assert "[node start]" not in output.getvalue()
    assert logged[0] == "[node start] started, 4 steps"
    assert any(line.startswith("[node start] 2/4 steps, ") for line in logged), logged


def test_disabled_progress_prints_nothing() -> None:
    console, output = plain_console()
    with StepProgress("harden", console=console, every=0.05, disable=True):
        time.sleep(0.2)
    assert output.getvalue() == ""


def test_durations() -> None:
    assert [duration(s) for s in (5, 65, 3725)] == ["5 s", "1m 05s", "1h 02m"]
