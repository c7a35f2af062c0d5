"""``pdn up`` and ``pdn down``: the main job on the local lab, end to end, and its tear-down.

Each step runs one of pdn's own idempotent commands as a child process, so a re-run converges:
what is already built, running, hardened or deployed is kept, and an interrupted run finishes
the job when started again. The steps are deliberately the commands an operator would type.
"""

from __future__ import annotations

import csv
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import typer
from rich.table import Table

from pdn import paths
from pdn.console import console
from pdn.errors import InputError, PdnError


@dataclass(frozen=True)
class Step:
    name: str
    action: Callable[[], None]


def _pdn(*args: str) -> None:
    """Run ``pdn ARGS`` in a child process; its own output and progress bars go to the terminal."""
    command = [sys.executable, "-c", "from pdn.cli import main; main()", *args]
    done = subprocess.run(command, cwd=paths.repo_root(), check=False)
    if done.returncode != 0:
        raise PdnError(f"`pdn {' '.join(args)}` failed (exit {done.returncode})", hint="fix it and re-run `pdn up`")


def _has_command(group: str) -> bool:
    from pdn.cli import app

    return any(info.name == group for info in app.registered_groups)


def _lab_credentials_file(site_id: str) -> Path:
    """access_key=/secret_key= file of the site's lab MinIO, for `pdn migrate copy` (mode 0600)."""
    from pdn.lab.endpoints import s3_credentials

    access, secret = s3_credentials(site_id)
    path = paths.lab_dir() / "sites" / site_id / "migrate-credentials"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.touch(mode=0o600)
    path.write_text(f"access_key={access}\nsecret_key={secret}\n", encoding="utf-8")
    return path


def _legacy_data(app_id: str, data_gb: float, folder: Path) -> Path:
    """A small stand-in for the app's legacy data: one 64 KiB file per GB (2 to 32 files)."""
    target = folder / app_id
    count = max(2, min(32, round(data_gb)))
    target.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        path = target / f"part-{index:03d}.bin"
        if not path.exists():
            path.write_bytes(f"{app_id}:{index}:".encode() * (65536 // (len(app_id) + 8)))
    return target


def _migrate_first_wave(out: Path, apps: int) -> None:
    from pdn.lab.endpoints import kubeconfig_path, s3_endpoint
    from pdn.toolchain import resolve

    inventory = out / "inventory"
    if not (inventory / "inventory.csv").is_file():
        _pdn(
            "migrate",
            "generate",
            "--apps",
            str(apps),
            "--datacenters",
            str(max(10, apps // 9)),
            "--out",
            str(inventory),
        )
    _pdn("migrate", "run", "-i", str(inventory), "-o", str(out))
    _pdn("migrate", "render", "-i", str(inventory), "-o", str(out), "--wave", "1")
    _pdn("migrate", "runbook", "-i", str(inventory), "-o", str(out), "--wave", "1")
    with (out / "plan.csv").open(encoding="utf-8") as handle:
        wave_one = [row for row in csv.DictReader(handle) if row.get("wave") == "1"]
    with (inventory / "inventory.csv").open(encoding="utf-8") as handle:
        data_gb = {row["app_id"]: float(row["data_gb"] or 0) for row in csv.DictReader(handle)}
    kubectl = str(resolve("kubectl"))
    for row in wave_one:
        app_id, site = row["app_id"], row["site"]
        manifests = out / "manifests" / app_id
        if manifests.is_dir():
            console.print(f"[cyan]{site:<12}[/] applying manifests of {app_id}")
            applied = subprocess.run(
                [
                    kubectl,
                    "--kubeconfig",
                    str(kubeconfig_path(site)),
                    "apply",
                    "--server-side",
                    "--field-manager=pdn-migrate",
                    "-R",
                    "-f",
                    str(manifests),
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            if applied.returncode != 0:
                raise PdnError(f"applying {manifests} to {site} failed: {applied.stderr.strip()}")
        source = _legacy_data(app_id, data_gb.get(app_id, 1.0), out / "legacy-data")
        common = [
            "--site",
            site,
            "--endpoint",
            s3_endpoint(site),
            "--credentials",
            str(_lab_credentials_file(site)),
            "-o",
            str(out),
        ]
        _pdn("migrate", "copy", app_id, "--source", str(source), *common)
        _pdn("migrate", "verify", app_id, "--source", str(source), *common)


def up_command(
    sites: list[str] = typer.Option(None, "--site", "-s", help="Only these sites (default: all four)."),
    nodes: int = typer.Option(1, "--nodes", min=0, help="Debian node containers per site to start and harden."),
    apps: int = typer.Option(24400, "--apps", min=50, help="Size of the generated national inventory."),
    skip: list[str] = typer.Option(None, "--skip", help="Skip a step by name (repeatable)."),
) -> None:
    """Run the main job on the local lab: toolchain, lab, hardening, stacks, migration, drill."""
    site_args = [arg for site in sites or [] for arg in ("--site", site)]
    one_site = ["--site", sites[0]] if sites and len(sites) == 1 else []  # `pdn harden` takes one site or all
    out = paths.out_dir() / "up"
    steps = [
        Step("toolchain", lambda: _pdn("toolchain", "build")),
        Step("lab", lambda: _pdn("lab", "up", *site_args, "--nodes", str(nodes))),
        Step("harden", lambda: _pdn("harden", *one_site)),
        Step("harden-report", lambda: _pdn("harden", "report", *one_site)),
        Step("stacks", lambda: _pdn("stacks", "up", "--lab", *(site_args or ["--all"]))),
        Step("migrate", lambda: _migrate_first_wave(out / "migrate", apps)),
        Step("drill", lambda: _pdn("backup", "drill", "--from", (sites or ["cikarang"])[0], "--seed", "100")),
    ]
    unknown = set(skip or []) - {step.name for step in steps}
    if unknown:
        raise InputError(f"unknown step(s) {', '.join(sorted(unknown))}; steps: {', '.join(s.name for s in steps)}")
    timings: list[tuple[str, str, float]] = []
    for step in steps:
        group = {"harden-report": "harden", "drill": "backup", "migrate": "migrate"}.get(step.name, step.name)
        if step.name in (skip or []) or (nodes == 0 and step.name.startswith("harden")):
            timings.append((step.name, "skipped", 0.0))
            continue
        if not _has_command(group):
            console.print(f"[yellow]step {step.name}: `pdn {group}` is not part of this version yet[/]")
            timings.append((step.name, "not available", 0.0))
            continue
        console.rule(f"[bold]{step.name}")
        started = time.monotonic()
        step.action()
        timings.append((step.name, "done", time.monotonic() - started))
    _summary(timings, out)


def _summary(timings: list[tuple[str, str, float]], out: Path) -> None:
    table = Table(title="pdn up: steps")
    for column in ("step", "result", "seconds"):
        table.add_column(column)
    for name, result, seconds in timings:
        table.add_row(name, result, f"{seconds:.0f}")
    console.print(table)
    console.print(f"outputs: {out}  ·  lab state: {paths.lab_dir()}  ·  tear down with [bold]pdn down[/]")


def down_command(
    purge: bool = typer.Option(False, "--purge", help="Also delete the lab's state (clusters, buckets, nodes)."),
) -> None:
    """Tear the local lab down: every process and node container (``--purge``: its state too)."""
    _pdn("lab", "down", *(["--purge"] if purge else []))
