"""``pdn test``: prepare what the tiers need, then run pytest over them.

Tiers are folders under ``tests/`` (unit, lab, nodes, vm). The README's test command is
``scripts/run test``, which lands here and runs all of them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import typer

from pdn import paths
from pdn.console import console
from pdn.errors import InputError, PdnError

TIERS = ("unit", "lab", "nodes", "vm")


def _prepare(tiers: list[str]) -> None:
    """Build or reuse what the selected tiers need before pytest starts.

    Doing this up front (instead of inside fixtures) gives the long, cached steps their own
    progress output and a clear failure message.
    """
    if "lab" in tiers:
        from pdn.toolchain import build_all

        build_all()
    if {"nodes", "lab"} & set(tiers):
        from pdn.nodes import ensure_image

        ensure_image()
    if "vm" in tiers:
        from pdn.vm.image import ensure_image as ensure_vm_image

        ensure_vm_image()


def test_command(
    tier: list[str] = typer.Option(
        list(TIERS), "--tier", "-t", help="Tier(s) to run: unit, lab, nodes, vm. Default: all."
    ),
    keyword: str = typer.Option(None, "-k", help="Only tests matching this pytest -k expression."),
    prepare: bool = typer.Option(True, help="Build the toolchain, node image and VM image the tiers need first."),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Run the test tiers (all by default), preparing the toolchain and node image first."""
    unknown = sorted(set(tier) - set(TIERS))
    if unknown:
        raise InputError(f"unknown tier(s): {', '.join(unknown)}; choose from {', '.join(TIERS)}")
    if prepare:
        _prepare(tier)
    command = [sys.executable, "-m", "pytest", "-m", " or ".join(tier), "--durations=15"]
    if keyword:
        command += ["-k", keyword]
    if verbose:
        command.append("-v")
    console.print(f"[bold]running[/] {' '.join(command[2:])}", highlight=False)
    started = time.monotonic()
    env = {**os.environ, "PATH": f"{os.path.dirname(sys.executable)}:{os.environ.get('PATH', '')}"}
    done = subprocess.run(command, cwd=paths.repo_root(), env=env, check=False)
    console.print(f"tests finished in {time.monotonic() - started:.0f} s with exit code {done.returncode}")
    if done.returncode != 0:
        raise PdnError("tests failed", exit_code=done.returncode)
