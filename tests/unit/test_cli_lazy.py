"""`pdn` loads only the sub-application a command names; the full help still lists everything."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pdn import cli

# Libraries a `pdn migrate ...` run has no use for, and the areas that import them.
HEAVY = ("pulumi", "kubernetes", "grpc", "pdn.stacks", "pdn.backup", "pdn.lab.cli", "pdn.vm", "pdn.harden")

PROBE = """
import sys
from pdn.cli import main
sys.argv = ["pdn", *sys.argv[1:]]
try:
    main()
except SystemExit as done:
    code = done.code
else:
    code = 0
heavy = sorted(m for m in sys.modules if any(m == h or m.startswith(h + ".") for h in {heavy!r}))
print("EXIT", code, "HEAVY", ",".join(heavy) or "-", file=sys.stderr)
"""


def _probe(*args: str) -> tuple[str, str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )
    last = done.stderr.strip().splitlines()[-1]
    return done.stdout, last


@pytest.mark.parametrize("args", [("migrate", "--help"), ("migrate", "copy", "--help")])
def test_migrate_imports_only_the_migrate_sub_app(args: tuple[str, ...]) -> None:
    stdout, status = _probe(*args)
    assert status == "EXIT 0 HEAVY -", status
    assert "Usage: pdn migrate" in stdout


def test_root_help_lists_every_sub_command() -> None:
    stdout, status = _probe("--help")
    assert status.startswith("EXIT 0 "), status
    listed = {line.split()[1] for line in stdout.splitlines() if line.startswith("│ ") and len(line.split()) > 2}
    assert set(cli.SUB_APPS) | set(cli.COMMANDS) <= listed
    assert "Legacy migration" in stdout  # help lines come from the sub-applications themselves


def test_full_app_registers_everything() -> None:
    groups = {info.name for info in cli.app.registered_groups}
    commands = {info.name for info in cli.app.registered_commands}
    assert groups == set(cli.SUB_APPS)
    assert commands == set(cli.COMMANDS)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["migrate", "copy", "APP"], "migrate"),
        (["--version"], None),
        ([], None),
        (["migrat"], None),
        (["doctor"], "doctor"),
        (["--help", "lab"], None),
        (["lab", "--help"], "lab"),
    ],
)
def test_wanted_names_the_sub_command(argv: list[str], expected: str | None) -> None:
    assert cli.wanted(argv) == expected


def test_unknown_sub_command_gets_the_usual_answer() -> None:
    _, status = _probe("migrat")
    assert status.startswith("EXIT 2 "), status
