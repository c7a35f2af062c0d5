"""``pdn test``: prepare what the tiers need, then run pytest over them.

Tiers are folders under ``tests/`` (unit, lab, nodes, kube, vm, capi). The README's test command is
``scripts/run test``, which lands here and runs all of them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import typer

from pdn import paths
from pdn.console import console
from pdn.errors import InputError, PdnError

TIERS = ("unit", "lab", "nodes", "kube", "vm", "capi")


def _prepare(tiers: list[str]) -> None:
    """Build or reuse what the selected tiers need before pytest starts.

    Doing this up front (instead of inside fixtures) gives the long, cached steps their own
    progress output and a clear failure message.
    """
    if {"lab", "kube", "capi"} & set(tiers):
        from pdn.toolchain import build_all

        build_all()
    if {"nodes", "lab", "kube", "capi"} & set(tiers):
        from pdn.nodes import ensure_image

        ensure_image()
    if {"lab", "kube", "capi"} & set(tiers):  # real nodes: these tiers start some, maybe at the same time
        from pdn.nodes.kubenode import ensure_kube_image
        from pdn.nodes.podimages import ensure_pod_images
        from pdn.sites import load_sites

        ensure_kube_image()
        for version in sorted({site.kubernetes.version for site in load_sites().sites}):
            ensure_pod_images(ensure_image(), version)
    if "capi" in tiers:  # the upgrade test's starting release (the site model's is built above)
        from pdn.capi.images import ensure_control_plane_images
        from pdn.nodes.kubenode import ensure_kube_image
        from pdn.toolchain.lock import load_lock

        previous = load_lock().units["kubernetes-previous"].version
        ensure_kube_image(previous)
        ensure_control_plane_images(previous)
    if "vm" in tiers:
        from pdn.vm.image import ensure_image as ensure_vm_image

        ensure_vm_image()


# The order the tiers run in; runs split into steps keep it (side tiers run one after another).
RUN_ORDER = ("lab", "nodes", "kube", "vm", "unit", "capi")
NO_TESTS = 5  # pytest's exit code when a run selected nothing (e.g. -k matched only other tiers)

#: Tiers that run beside another one, each in a pytest of its own, and the tier each prefers as
#: partner. The lab tier is the longest (about 30 min in CI); the nodes tier (podman containers
#: driven by Ansible), the kube tier (real nodes, mostly waiting on kubelets and kubeadm) and the
#: vm tier (one qemu VM under software emulation) run one after the other beside it, which together
#: take a little less (CI of 2026-12-03: 42.6 min in all with this plan, 46.6 min the run before
#: with the vm tier beside the unit tier and a shorter capi tier). The capi tier (Cluster API
#: making, scaling and upgrading a cluster, about 15 min) goes beside the unit tier: measured, its
#: lab uses 87 of the host's 128 inotify instances (shared by every root process and every systemd
#: inside a container; the lab tier's lab uses about 56), more while an upgrade doubles the control
#: plane, so it never runs beside another lab. Side tiers run one after another, never two at once,
#: so each tier's session fixtures (node containers, real nodes) end before the next tier's start.
BESIDE = {"nodes": "lab", "kube": "lab", "vm": "lab", "capi": "unit"}


def plan_runs(tiers: list[str], beside: bool) -> list[tuple[list[str], list[str]]]:
    """Steps of (tiers run in the foreground, tiers run one after another beside them).

    A tier of ``BESIDE`` runs beside its partner, or beside the last other tier selected when its
    partner is not; when only side tiers are selected, the first of them takes the foreground. Alone
    (or with ``beside`` off) everything runs in one pytest.
    """
    ordered = [name for name in RUN_ORDER if name in tiers]
    rest = [name for name in ordered if name not in BESIDE]
    sides = [name for name in ordered if name in BESIDE]
    if not rest and sides:
        rest, sides = sides[:1], sides[1:]
    if not beside or not sides:
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


class SideRuns:
    """The side tiers of one step: each in a pytest of its own, one after another, in a thread.

    Each writes to ``out/test-<tier>.log``; the logs are shown when the step ends.
    """

    def __init__(self, tiers: list[str], keyword: str | None, verbose: bool, env: dict[str, str]) -> None:
        self.tiers, self.keyword, self.verbose, self.env = tiers, keyword, verbose, env
        self.codes: list[int] = []
        self.logs: list[tuple[str, Path]] = []
        self._current: subprocess.Popen[bytes] | None = None
        self._stopped = False
        self._lock = threading.Lock()  # a stop never misses a pytest being started
        self._thread = threading.Thread(target=self._run, name="pdn-test-beside", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        for tier in self.tiers:
            command = _pytest([tier], self.keyword, self.verbose)
            shown = " ".join(command[2:])
            log = paths.out_dir() / f"test-{tier}.log"
            log.parent.mkdir(parents=True, exist_ok=True)
            started = time.monotonic()
            with self._lock:
                if self._stopped:
                    return
                console.print(f"[bold]running beside[/] {shown} [dim](output: {log})[/]", highlight=False)
                with log.open("w", encoding="utf-8") as sink:
                    process = self._current = subprocess.Popen(
                        command, cwd=paths.repo_root(), env=self.env, stdout=sink, stderr=subprocess.STDOUT
                    )
            code = process.wait()
            self.codes.append(code)
            self.logs.append((shown, log))
            console.print(
                f"[bold]beside:[/] {shown} ended after {time.monotonic() - started:.0f} s with exit code {code}",
                highlight=False,
            )

    def stop(self) -> None:
        """Ctrl-C: end the running side pytest and start no further one."""
        with self._lock:
            self._stopped = True
            if self._current is not None and self._current.poll() is None:
                self._current.terminate()

    def wait(self) -> list[int]:
        """Wait for the side runs, show their output, return their exit codes."""
        self._thread.join()
        for shown, log in self.logs:
            console.print(f"[bold]output of[/] {shown}:", highlight=False)
            sys.stdout.write(log.read_text(encoding="utf-8"))
            sys.stdout.flush()
        return self.codes


def combined_exit_code(codes: list[int]) -> int:
    """0 when every run passed or had nothing selected (and at least one ran tests)."""
    failed = [code for code in codes if code not in (0, NO_TESTS)]
    if failed:
        return failed[0]
    return NO_TESTS if codes and all(code == NO_TESTS for code in codes) else 0


def test_command(
    tier: list[str] = typer.Option(
        list(TIERS), "--tier", "-t", help="Tier(s) to run: unit, lab, nodes, kube, vm, capi. Default: all."
    ),
    keyword: str = typer.Option(None, "-k", help="Only tests matching this pytest -k expression."),
    prepare: bool = typer.Option(True, help="Build the toolchain, node image and VM image the tiers need first."),
    beside: bool = typer.Option(
        True,
        help="Run the nodes, the kube and then the vm tier beside the lab tier, and the capi tier beside the "
        "unit tier, each in a pytest of its own (their output is shown when the step ends).",
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
        side = SideRuns(side_tiers, keyword, verbose, env) if side_tiers else None
        if side is not None:
            side.start()
        command = _pytest(foreground, keyword, verbose)
        console.print(f"[bold]running[/] {' '.join(command[2:])}", highlight=False)
        try:
            codes.append(subprocess.run(command, cwd=paths.repo_root(), env=env, check=False).returncode)
        except BaseException:  # Ctrl-C: stop the runs beside too, then report what they printed
            if side is not None:
                side.stop()
            raise
        finally:
            if side is not None:
                codes.extend(side.wait())
    code = combined_exit_code(codes)
    console.print(f"tests finished in {time.monotonic() - started:.0f} s with exit code {code}")
    if code != 0:
        raise PdnError("tests failed", exit_code=code)
