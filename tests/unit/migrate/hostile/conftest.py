"""The hostile-input suite: inputs crafted as a hostile or careless agency would, fed through the CLI.

Every test asserts what the toolkit promises for untrusted input (docs/threat-model.md): a clear
error naming file, line and field; a non-zero exit; nothing written outside the output folder;
nothing half-written. ``pdn`` runs a command in this process behind the same error boundary as
the real entry point (``run_guarded``); ``pdn_process`` runs ``.venv/bin/pdn`` itself, for what
only a real process shows (a FIFO that would block, bytes a terminal cannot print).
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # hostile_kit
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # podsecurity

from hostile_kit import Outcome

from pdn.migrate.generate import generate

APPS = 80


@pytest.fixture
def pdn(capsys: pytest.CaptureFixture[str]) -> Callable[..., Outcome]:
    """``pdn("migrate", "validate", ...)``: exit code and output of one command."""
    from pdn.cli import app as cli
    from pdn.console import run_guarded

    def run(*args: str | Path) -> Outcome:
        capsys.readouterr()
        code = 0
        try:
            run_guarded(lambda: cli([str(arg) for arg in args], standalone_mode=False))
        except SystemExit as stop:
            code = int(stop.code or 0)
        captured = capsys.readouterr()
        return Outcome(code, captured.out, captured.err)

    return run


@pytest.fixture(scope="session")
def clean_inventory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("clean-inventory")
    generate(folder, apps=APPS, datacenters=20, seed=3)
    return folder


@pytest.fixture
def inventory(clean_inventory: Path, tmp_path: Path) -> Path:
    """A private copy of the clean inventory, for a test to make hostile."""
    target = tmp_path / "inventory"
    shutil.copytree(clean_inventory, target)
    return target
