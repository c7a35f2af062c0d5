"""`pdn test` splits the tiers into steps: nodes, kube, vm beside the lab tier, capi beside unit."""

from __future__ import annotations

from pathlib import Path

import pytest

from pdn.suite import NO_TESTS, combined_exit_code, plan_runs


@pytest.mark.parametrize(
    ("tiers", "beside", "steps"),
    [
        (
            ["unit", "lab", "nodes", "kube", "vm", "capi"],  # the README's test command: every tier
            True,
            [(["lab"], ["nodes", "kube", "vm"]), (["unit"], ["capi"])],
        ),
        (["unit", "lab", "nodes", "kube", "vm"], True, [(["lab"], ["nodes", "kube", "vm"]), (["unit"], [])]),
        (["unit", "lab", "nodes", "vm"], False, [(["lab", "nodes", "vm", "unit"], [])]),
        (["capi", "vm", "kube", "unit", "nodes", "lab"], False, [(["lab", "nodes", "kube", "vm", "unit", "capi"], [])]),
        (["kube"], True, [(["kube"], [])]),
        (["kube", "unit"], True, [(["unit"], ["kube"])]),  # partner not selected: beside the last other tier
        (["kube", "nodes", "vm"], True, [(["nodes"], ["kube", "vm"])]),  # only side tiers: the first leads
        (["capi", "unit"], True, [(["unit"], ["capi"])]),
        (["capi", "lab"], True, [(["lab"], ["capi"])]),
        (["lab", "vm", "unit"], True, [(["lab"], ["vm"]), (["unit"], [])]),
        (["vm"], True, [(["vm"], [])]),
        (["unit", "nodes"], True, [(["unit"], ["nodes"])]),
        (["lab", "unit"], True, [(["lab", "unit"], [])]),
    ],
)
def test_plan_runs(tiers: list[str], beside: bool, steps: list[tuple[list[str], list[str]]]) -> None:
    assert plan_runs(tiers, beside) == steps


def test_combined_exit_code() -> None:
    assert combined_exit_code([0, 0, 0]) == 0
    assert combined_exit_code([0, NO_TESTS]) == 0  # -k selected nothing in one run
    assert combined_exit_code([NO_TESTS, NO_TESTS]) == NO_TESTS
    assert combined_exit_code([0, 1, 2]) == 1
    assert combined_exit_code([NO_TESTS, 2]) == 2


def test_side_tiers_run_one_after_another_each_in_its_own_pytest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A side run starts the next tier only after the previous one ended, and keeps every exit code."""
    import subprocess
    import threading

    from pdn import paths, suite

    running: list[str] = []
    overlaps: list[list[str]] = []
    lock = threading.Lock()

    class FakeProcess:
        def __init__(self, command: list[str], **_: object) -> None:
            self.tier = command[command.index("-m", 3) + 1]
            with lock:
                running.append(self.tier)
                if len(running) > 1:
                    overlaps.append(list(running))

        def wait(self) -> int:
            with lock:
                running.remove(self.tier)
            return {"nodes": 1, "kube": 0}[self.tier]

        def poll(self) -> int:
            return 0

    monkeypatch.setattr(subprocess, "Popen", FakeProcess)
    monkeypatch.setattr(paths, "out_dir", lambda: tmp_path)
    side = suite.SideRuns(["nodes", "kube"], None, False, {})
    side.start()
    assert side.wait() == [1, 0]
    assert overlaps == []
    assert [log.name for _, log in side.logs] == ["test-nodes.log", "test-kube.log"]


def test_a_stopped_side_run_starts_no_further_pytest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    from pdn import paths, suite

    started: list[list[str]] = []
    monkeypatch.setattr(subprocess, "Popen", lambda command, **_: started.append(command))
    monkeypatch.setattr(paths, "out_dir", lambda: tmp_path)
    side = suite.SideRuns(["nodes", "kube"], None, False, {})
    side.stop()
    side.start()
    assert side.wait() == []
    assert started == []
