"""The floors in pyproject.toml are true: every dependency at its lowest allowed version, installed
from PyPI into a virtualenv of its own (cached in ~/.cache/pdn/floors), runs the smoke tests.

The first run on a machine downloads and installs the floors (a few minutes); later runs reuse the
virtualenv while the floors stay the same."""

from __future__ import annotations

from pathlib import Path

import pytest

from pdn import floors


def test_every_dependency_has_a_floor_pin() -> None:
    found = floors.floors()
    assert {floor.name for floor in found if floor.pin is None} <= {"types-PyYAML"}
    pins = dict(line.split("==") for line in floors.constraints(found).splitlines())
    assert pins["kubernetes"] == "29" and pins["ansible-core"] == "2.18"


def test_a_floor_is_read_from_each_kind_of_lower_bound(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\nname = "x"\ndependencies = ["a>=1.2,<2", "b~=3.4", "c==5", "d", "e[extra]>=6"]\n'
        '[project.optional-dependencies]\ndev = ["f>=7"]\n'
    )
    found = floors.floors(pyproject)
    assert [floor.pin for floor in found] == ["a==1.2", "b==3.4", "c==5", None, "e==6", "f==7"]
    assert found[4].requirement == "e[extra]>=6"


@pytest.mark.timeout(3600)
def test_the_lowest_allowed_versions_pass_the_smoke_tests() -> None:
    done = floors.check(pytest_args=("-x", "--timeout=900"))
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
