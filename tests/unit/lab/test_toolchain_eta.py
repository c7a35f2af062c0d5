"""Time left for a toolchain build."""

from __future__ import annotations

from pathlib import Path

import pytest

from pdn.toolchain import eta


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PDN_CACHE", str(tmp_path))


def test_measured_times_win_over_reference() -> None:
    eta.record_time("etcd", 42.0)
    clock = eta.BuildClock(["etcd", "kwok", "unknown-unit"], workers=1)
    assert clock.expected == {
        "etcd": 42.0,
        "kwok": eta.REFERENCE_MINUTES["kwok"] * 60,
        "unknown-unit": eta.DEFAULT_MINUTES * 60,
    }


def test_time_left_shrinks_as_units_run_and_finish() -> None:
    eta.record_time("a", 100.0)
    eta.record_time("b", 300.0)
    clock = eta.BuildClock(["a", "b"], workers=2)
    assert clock.seconds_left(now=0.0) == pytest.approx(200.0)  # 400 s of work on two builders
    started = 1000.0
    clock.start("a", now=started)
    clock.start("b", now=started)
    assert clock.done(now=started + 50) == pytest.approx(100.0)
    # a running unit never counts as more than 95 % done, however long it overruns
    assert clock.done(now=started + 10_000) == pytest.approx(0.95 * 400)
    clock.finish("a")
    # one unit left: it runs alone, so the remaining work is not divided
    assert clock.seconds_left(now=started + 100) == pytest.approx(200.0)
    clock.finish("b")
    assert clock.seconds_left() == 0.0


def test_corrupt_times_file_is_ignored() -> None:
    eta.times_file().parent.mkdir(parents=True, exist_ok=True)
    eta.times_file().write_text("{not json", encoding="utf-8")
    assert eta.load_times() == {}
    assert eta.describe_left(30) == "under a minute left"
    assert eta.describe_left(600) == "about 10 min left"
