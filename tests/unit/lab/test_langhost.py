"""pdn's Pulumi language host: which program it runs, and the launcher the toolchain writes."""

from __future__ import annotations

import stat
from pathlib import Path
from types import SimpleNamespace

from pdn.toolchain import find
from pdn.toolchain.langhost import program_path
from pdn.toolchain.langhost_launcher import LAUNCHER, write


def test_program_from_program_info() -> None:
    info = SimpleNamespace(program_directory="/p/infra", entry_point=".")
    assert program_path(SimpleNamespace(info=info, pwd="/p", program="infra")) == Path("/p/infra")
    info = SimpleNamespace(program_directory="/p", entry_point="main.py")
    assert program_path(SimpleNamespace(info=info, pwd="/p", program=".")) == Path("/p/main.py")


def test_program_from_pwd_for_older_clis() -> None:
    info = SimpleNamespace(program_directory="", entry_point="")
    assert program_path(SimpleNamespace(info=info, pwd="/p", program="infra/")) == Path("/p/infra")


def test_launcher_is_written_once_and_found(isolated: Path) -> None:
    assert find("pulumi-language-python") is None
    write()
    found = find("pulumi-language-python")
    assert found is not None and found.path.read_text() == LAUNCHER
    assert stat.S_IMODE(found.path.stat().st_mode) & 0o111
    assert "-m pdn.toolchain.langhost" in LAUNCHER
