"""ruff and mypy are part of the test suite, so the README's one test command checks style too."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600, check=False)


@pytest.mark.parametrize("args", [("check", "."), ("format", "--check", ".")], ids=["lint", "format"])
def test_ruff(args: tuple[str, ...]) -> None:
    done = _run(str(BIN / "ruff"), *args)
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_strict() -> None:
    done = _run(str(BIN / "mypy"))
    assert done.returncode == 0, done.stdout + done.stderr


def test_bootstrap_shim_is_valid_bash() -> None:
    bash = shutil.which("bash")
    assert bash
    for script in (REPO / "scripts" / "run", REPO / ".ci" / "run"):
        done = _run(bash, "-n", str(script))
        assert done.returncode == 0, f"{script}: {done.stderr}"
