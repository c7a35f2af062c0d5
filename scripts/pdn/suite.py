"""``pdn test``: prepare what the tiers need, then run pytest over them.

Tiers are folders under ``tests/`` (unit, lab, nodes, kube, vm). The README's test command is
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

TIERS = ("unit", "lab", "nodes", "kube", "vm")


def _prepare(tiers: list[str]) -> None:
    """Build or reuse what the selected tiers need before pytest starts.

    Doing this up front (instead of inside fixtures) gives the long, cached steps their own
    progress output and a clear failure message.
    """
    if {"lab", "kube"} & set(tiers):
        from pdn.toolchain import build_all

        build_all()
    if {"nodes", "lab", "kube"} & set(tiers):
        from pdn.nodes import ensure_image

        ensure_image()
    if {"lab", "kube"} & set(tiers):  # real nodes: both tiers start some, maybe at the same time
        from pdn.nodes.kubenode import ensure_kube_image
        from pdn.nodes.podimages import ensure_pod_images
        from pdn.sites import load_sites

        ensure_kube_image()
        for version in sorted({site.kubernetes.version for site in load_sites().sites}):
            ensure_pod_images(ensure_image(), version)
    if "vm" in tiers:
        from pdn.vm.image import ensure_image as ensure_vm_image

        ensure_vm_image()


# The order one pytest run collects the tier folders in; runs split into steps keep it.
RUN_ORDER = ("lab", "kube", "nodes", "unit", "vm")
NO_TESTS = 5  # pytest's exit code when a run selected nothing (e.g. -k matched only other tiers)

#: Tiers that run beside another one, in a second pytest, and the tier each prefers as partner.
#: The vm tier is one qemu VM under software emulation, mostly waiting on its emulated CPUs; the
#: nodes tier is podman containers driven by Ansible: on two cores they overlap well (15 min side by
#: side against about 21 min one after the other in a CI run, docs/benchmarks.md). The kube tier
#: (real nodes, mostly waiting on kubelets and kubeadm) goes beside the lab tier, the longest one.
BESIDE = {"vm": "nodes", "kube": "lab"}


def plan_runs(tiers: list[str], beside: bool) -> list[tuple[list[str], list[str]]]:
    """Steps of (tiers run in the foreground, tiers run beside them at the same time).

    A tier of ``BESIDE`` runs beside its partner, or beside the last other tier selected when its
    partner is not; alone (or with ``beside`` off) everything runs in one pytest.
    """
    ordered = [name for name in RUN_ORDER if name in tiers]
    rest = [name for name in ordered if name not in BESIDE]
    sides = [name for name in ordered if name in BESIDE]
    if not beside or not sides or not rest:
        return [(ordered, [])]
    partners: dict[str, list[str]] = {}
    for side in sides:
        partner = BESIDE[side] if BESIDE[side] in rest else rest[-1]
        partners.setdefault(partner, []).append(side)
    steps: list[tuple[list[str], list[str]]] = []
    group: list[str] = []
    for name in rest:
        if name not in partners:
            group.append(name)
            continue
        if group:
            steps.append((group, []))
            group = []
        steps.append(([name], partners[name]))
    if group:
        steps.append((group, []))
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
        list(TIERS), "--tier", "-t", help="Tier(s) to run: unit, lab, nodes, kube, vm. Default: all."
    ),
    keyword: str = typer.Option(None, "-k", help="Only tests matching this pytest -k expression."),
    prepare: bool = typer.Option(True, help="Build the toolchain, node image and VM image the tiers need first."),
    beside: bool = typer.Option(
        True,
        help="Run the vm tier at the same time as the nodes tier and the kube tier beside the lab tier "
        "(their output is shown when they end).",
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
    for foreground, side_tiers in plan_runs(tier, beside):
        background: tuple[subprocess.Popen[bytes], str, Path] | None = None
        if side_tiers:
            beside_command = _pytest(side_tiers, keyword, verbose)
            shown = " ".join(beside_command[2:])
            log = paths.out_dir() / f"test-{'-'.join(side_tiers)}.log"
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
