"""``pdn test``: prepare what the tiers need, then run pytest over them.

Tiers are folders under ``tests/`` (unit, lab, nodes, vm). The README's test command is
``scripts/run test``, which lands here and runs all of them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

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


# The order one pytest run collects the tier folders in; runs split into steps keep it.
RUN_ORDER = ("lab", "nodes", "unit", "vm")
NO_TESTS = 5  # pytest's exit code when a run selected nothing (e.g. -k matched only other tiers)


def plan_runs(tiers: list[str], vm_beside_nodes: bool) -> list[tuple[list[str], list[str]]]:
    """Steps of (tiers run in the foreground, tiers run beside them at the same time).

    The vm tier is one qemu VM under software emulation, mostly waiting on its emulated CPUs; the
    nodes tier is podman containers driven by Ansible. On two cores they overlap well (15 min
    side by side against about 21 min one after the other in a CI run, docs/benchmarks.md), so
    by default the vm tier runs beside the nodes tier (or beside the last other tier selected).
    """
    ordered = [name for name in RUN_ORDER if name in tiers]
    rest = [name for name in ordered if name != "vm"]
    if not vm_beside_nodes or "vm" not in ordered or not rest:
        return [(ordered, [])]
    partner = rest.index("nodes") if "nodes" in rest else len(rest) - 1
    steps: list[tuple[list[str], list[str]]] = []
    if rest[:partner]:
        steps.append((rest[:partner], []))
    steps.append(([rest[partner]], ["vm"]))
    if rest[partner + 1 :]:
        steps.append((rest[partner + 1 :], []))
    return steps


def _pytest(tiers: list[str], keyword: str | None, verbose: bool) -> list[str]:
    command = [sys.executable, "-m", "pytest", "-m", " or ".join(tiers), "--durations=15"]
    if keyword:
        command += ["-k", keyword]
    if verbose:
        command.append("-v")
    return command


def combined_exit_code(codes: list[int]) -> int:
    """0 when every run passed or had nothing selected (and at least one ran tests)."""
    failed = [code for code in codes if code not in (0, NO_TESTS)]
    if failed:
        return failed[0]
    return NO_TESTS if codes and all(code == NO_TESTS for code in codes) else 0


def test_command(
    tier: list[str] = typer.Option(
        list(TIERS), "--tier", "-t", help="Tier(s) to run: unit, lab, nodes, vm. Default: all."
    ),
    keyword: str = typer.Option(None, "-k", help="Only tests matching this pytest -k expression."),
    prepare: bool = typer.Option(True, help="Build the toolchain, node image and VM image the tiers need first."),
    vm_beside_nodes: bool = typer.Option(
        True, help="Run the vm tier at the same time as the nodes tier (its output is shown when it ends)."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Run the test tiers (all by default), preparing the toolchain and node image first."""
    unknown = sorted(set(tier) - set(TIERS))
    if unknown:
        raise InputError(f"unknown tier(s): {', '.join(unknown)}; choose from {', '.join(TIERS)}")
    if prepare:
        _prepare(tier)
    started = time.monotonic()
    env = {**os.environ, "PATH": f"{os.path.dirname(sys.executable)}:{os.environ.get('PATH', '')}"}
    codes: list[int] = []
    for foreground, beside in plan_runs(tier, vm_beside_nodes):
        background: tuple[subprocess.Popen[bytes], str, Path] | None = None
        if beside:
            beside_command = _pytest(beside, keyword, verbose)
            shown = " ".join(beside_command[2:])
            log = paths.out_dir() / f"test-{'-'.join(beside)}.log"
            log.parent.mkdir(parents=True, exist_ok=True)
            console.print(f"[bold]running beside[/] {shown} [dim](output: {log})[/]", highlight=False)
            with log.open("w", encoding="utf-8") as sink:
                process = subprocess.Popen(
                    beside_command, cwd=paths.repo_root(), env=env, stdout=sink, stderr=subprocess.STDOUT
                )
            background = (process, shown, log)
        command = _pytest(foreground, keyword, verbose)
        console.print(f"[bold]running[/] {' '.join(command[2:])}", highlight=False)
        try:
            codes.append(subprocess.run(command, cwd=paths.repo_root(), env=env, check=False).returncode)
        except BaseException:  # Ctrl-C: stop the run beside too, then report what it printed
            if background is not None:
                background[0].terminate()
            raise
        finally:
            if background is not None:
                process, shown, log = background
                codes.append(process.wait())
                console.print(f"[bold]output of[/] {shown}:", highlight=False)
                sys.stdout.write(log.read_text(encoding="utf-8"))
                sys.stdout.flush()
    code = combined_exit_code(codes)
    console.print(f"tests finished in {time.monotonic() - started:.0f} s with exit code {code}")
    if code != 0:
        raise PdnError("tests failed", exit_code=code)
