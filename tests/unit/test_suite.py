"""`pdn test` splits the tiers into steps: the vm tier runs beside the nodes tier, kube beside lab."""

from __future__ import annotations

import pytest

from pdn.suite import NO_TESTS, combined_exit_code, plan_runs


@pytest.mark.parametrize(
    ("tiers", "beside", "steps"),
    [
        (["unit", "lab", "nodes", "vm"], True, [(["lab"], []), (["nodes"], ["vm"]), (["unit"], [])]),
        (["unit", "lab", "nodes", "vm"], False, [(["lab", "nodes", "unit", "vm"], [])]),
        (
            ["unit", "lab", "nodes", "kube", "vm"],
            True,
            [(["lab"], ["kube"]), (["nodes"], ["vm"]), (["unit"], [])],
        ),
        (["vm", "kube", "unit", "nodes", "lab"], False, [(["lab", "kube", "nodes", "unit", "vm"], [])]),
        (["kube"], True, [(["kube"], [])]),
        (["kube", "unit"], True, [(["unit"], ["kube"])]),
        (["kube", "nodes", "vm"], True, [(["nodes"], ["kube", "vm"])]),
        (["vm", "unit"], True, [(["unit"], ["vm"])]),
        (["lab", "vm", "unit"], True, [(["lab"], []), (["unit"], ["vm"])]),
        (["vm"], True, [(["vm"], [])]),
        (["unit", "nodes"], True, [(["nodes", "unit"], [])]),
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
