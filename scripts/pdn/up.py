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

from pdn import paths
from pdn.console import console
from pdn.errors import InputError, PdnError
from pdn.upsummary import StepTiming, gather, print_summary, write_summary


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


def _plan_migration(out: Path, apps: int) -> None:
    """Inventory (generated once), the pipeline, and wave 1's manifests, runbook and tenants."""
    inventory = out / "inventory"
    if not (inventory / "inventory.csv").is_file():
        datacenters = str(max(10, apps // 9))
        _pdn("migrate", "generate", "--apps", str(apps), "--datacenters", datacenters, "--out", str(inventory))
    _pdn("migrate", "run", "-i", str(inventory), "-o", str(out))
    _pdn("migrate", "render", "-i", str(inventory), "-o", str(out), "--wave", "1")
    _pdn("migrate", "runbook", "-i", str(inventory), "-o", str(out), "--wave", "1")


def apply_manifests(site: str, folder: Path, field_manager: str = "pdn-migrate") -> int:
    """Server-side apply of every manifest under ``folder`` (files in name order, as ``kubectl apply
    --server-side -R -f`` takes them) to the site's cluster; returns how many objects were applied."""
    from pdn import kube, safeload

    client = kube.site(site)
    applied = 0
    for file in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in {".yaml", ".yml", ".json"}):
        document = safeload.load_yaml(file)
        if document is None:
            continue
        if not isinstance(document, dict):
            raise PdnError(f"{file}: not a Kubernetes object (a YAML mapping)")
        objects = document.get("items", []) if str(document.get("kind", "")).endswith("List") else [document]
        for obj in objects:
            try:
                client.apply(obj, field_manager=field_manager)
            except kube.KubeError as error:
                raise PdnError(f"applying {file} to {site} failed: {error}") from None
            applied += 1
    return applied


def _migrate_first_wave(out: Path, sites: list[str]) -> None:
    """Wave 1 for real on ``sites``: manifests applied server-side, legacy data copied and verified."""
    from pdn.lab.endpoints import s3_endpoint

    inventory = out / "inventory"
    with (out / "plan.csv").open(encoding="utf-8") as handle:
        wave_one = [row for row in csv.DictReader(handle) if row.get("wave") == "1" and row.get("site") in sites]
    with (inventory / "inventory.csv").open(encoding="utf-8") as handle:
        data_gb = {row["app_id"]: float(row["data_gb"] or 0) for row in csv.DictReader(handle)}
    if not wave_one:
        console.print(f"[yellow]no application of wave 1 is placed on {', '.join(sites)}: nothing to move there[/]")
    for row in wave_one:
        app_id, site = row["app_id"], row["site"]
        manifests = out / "manifests" / app_id
        if manifests.is_dir():
            console.print(f"[cyan]{site:<12}[/] applying manifests of {app_id}")
            apply_manifests(site, manifests)
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


@dataclass(frozen=True)
class SitePlan:
    """Which sites each step touches, so that one site can run alone with what it depends on."""

    chosen: list[str]  # sites the operator asked for: nodes, hardening, migration
    stacks: list[str]  # chosen sites plus the drill's partner (its stack holds the ReadOnly location)
    lab: list[str]  # stack sites plus every partner their buckets live on
    drill_from: str
    drill_to: str


def plan_sites(requested: list[str]) -> SitePlan:
    """Expand ``--site`` choices into the sites each step needs, in the model's build order."""
    from pdn.sites import load_sites

    model = load_sites()
    order = [site.id for site in sorted(model.sites, key=lambda site: site.order)]
    unknown = [site for site in requested if site not in order]
    if unknown:
        raise InputError(f"unknown site(s) {', '.join(unknown)}", hint=f"sites: {', '.join(order)}")
    chosen = [site for site in order if site in requested] if requested else order
    drill_from = chosen[0]
    partners = model.site(drill_from).partner_ids
    if not partners:
        raise InputError(f"{drill_from} has no backup partner in {paths.sites_file()}")
    stacks = [site for site in order if site in {*chosen, partners[0]}]
    needed = {*stacks, *(partner for site in stacks for partner in model.site(site).partner_ids)}
    return SitePlan(chosen, stacks, [site for site in order if site in needed], drill_from, partners[0])


def _site_args(sites: list[str]) -> list[str]:
    return [arg for site in sites for arg in ("--site", site)]


def _lab_up(plan: SitePlan, nodes: int) -> None:
    # The chosen sites' nodes are real Kubernetes nodes: the containers pdn harden hardens, joined with kubeadm.
    _pdn("lab", "up", *_site_args(plan.chosen), *(["--real-nodes", str(nodes)] if nodes else []))
    extra = [site for site in plan.lab if site not in plan.chosen]
    if extra:  # partners: their clusters and object stores, no nodes
        _pdn("lab", "up", *_site_args(extra))


def _harden(plan: SitePlan, every_site: bool, *args: str) -> None:
    """``pdn harden`` takes one site or all of them."""
    for site_args in [[]] if every_site else [["--site", site] for site in plan.chosen]:
        _pdn("harden", *args, *site_args)


def up_command(
    sites: list[str] = typer.Option(
        None, "--site", "-s", help="Only these sites (default: all four); their backup partners' labs come up too."
    ),
    # One per site by default: inotify instances are counted per user across the host and eight
    # nodes beside four control planes exceed this machine's 128 (pdn.lab.hostlimits).
    nodes: int = typer.Option(
        1, "--nodes", min=0, help="Real Kubernetes nodes per site (Debian 12 node containers joined with kubeadm)."
    ),
    apps: int = typer.Option(24400, "--apps", min=50, help="Size of the generated national inventory."),
    skip: list[str] = typer.Option(None, "--skip", help="Skip a step by name (repeatable)."),
) -> None:
    """Run the main job on the local lab: toolchain, lab, hardening, plan, stacks, migration, drill, summary.

    Every step is one of pdn's own idempotent commands, so re-running converges and an interrupted
    run finishes the job. The summary is also written to out/up/summary.json.
    """
    plan = plan_sites(sites or [])
    every_site = len(plan.chosen) == len(plan_sites([]).chosen)
    out = paths.out_dir() / "up"
    drill = [
        *("backup", "drill", "--from", plan.drill_from, "--to", plan.drill_to),
        *("--seed", "100", "--report-dir", str(out / "drill")),
    ]
    tenants_file = out / "migrate" / "tenants.yaml"  # wave 1's tenants, written by the plan step
    tenants = ["--tenants", str(tenants_file)] if tenants_file.is_file() or "plan" not in (skip or []) else []
    steps = [
        Step("toolchain", lambda: _pdn("toolchain", "build")),
        Step("lab", lambda: _lab_up(plan, nodes)),
        Step("harden", lambda: _harden(plan, every_site)),
        Step("harden-report", lambda: _harden(plan, every_site, "report", "--out", str(out / "harden"))),
        Step("plan", lambda: _plan_migration(out / "migrate", apps)),
        Step("stacks", lambda: _pdn("stacks", "up", "--lab", *_site_args(plan.stacks), *tenants)),
        Step("migrate", lambda: _migrate_first_wave(out / "migrate", plan.chosen)),
        Step("drill", lambda: _pdn(*drill)),
    ]
    unknown = set(skip or []) - {step.name for step in steps}
    if unknown:
        raise InputError(f"unknown step(s) {', '.join(sorted(unknown))}; steps: {', '.join(s.name for s in steps)}")
    timings: list[StepTiming] = []
    started_all = time.monotonic()
    for step in steps:
        if step.name in (skip or []) or (nodes == 0 and step.name.startswith("harden")):
            timings.append(StepTiming(step.name, "skipped", 0.0))
            continue
        console.rule(f"[bold]{step.name}")
        started = time.monotonic()
        step.action()
        timings.append(StepTiming(step.name, "done", time.monotonic() - started))
    summary = gather(plan.chosen, out, timings, time.monotonic() - started_all)
    write_summary(summary, out / "summary.json")
    print_summary(summary)


def down_command(
    purge: bool = typer.Option(False, "--purge", help="Also delete the lab's state (clusters, buckets, nodes)."),
) -> None:
    """Tear the local lab down: every process and node container (``--purge``: its state too)."""
    _pdn("lab", "down", *(["--purge"] if purge else []))
