"""The closing summary of ``pdn up``: what each site now runs, read back from the lab itself.

Every figure is read from where the step left its result (node containers, the hardening
report, the clusters' API servers, the migration ledgers, Velero's Backup objects), not from
what the steps claimed, so the summary also tells the truth after a partial or repeated run.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel
from rich.table import Table

from pdn import kube, paths
from pdn.console import console
from pdn.migrate.workspace import COPY_LEDGERS

T = TypeVar("T")

VELERO_NAMESPACE = "velero"
FAILED_PHASES = {"Failed", "PartiallyFailed", "FailedValidation"}
OWN_LOCATION_PREFIX = "to-"  # the site's ReadWrite locations (to-<partner>); from-<source> are partners' backups


@dataclass(frozen=True)
class StepTiming:
    name: str
    result: str
    seconds: float


class NodeScore(BaseModel):
    node: str
    role: str
    lynis_index: int | None
    kube_bench: str | None = None  # "N passed, M waived, K not passed" on a real node, from the report
    kube_bench_ok: bool | None = None
    kubelet: str | None = None  # the kubelet version the API server reports (real nodes only)
    ready: bool | None = None


class SiteSummary(BaseModel):
    site: str
    nodes_running: int = 0
    nodes: list[NodeScore] = []
    tenants: int | None = None
    apps_wave_one: int = 0
    apps_migrated: int = 0  # data copied and every object verified
    apps_live: int | None = None  # rendered wave-1 apps deployed on the site's real nodes
    apps_ready: int | None = None  # ... whose replicas are all Ready
    apps_smoke_verified: int | None = None  # ... whose smoke check read back their data and configuration
    copy_ran: str | None = None  # where the data copy ran: how many apps as Jobs, how many in one process
    tenants_isolated: bool | None = None  # two tenants' apps could not reach each other
    backups_completed: int | None = None
    backups_failed: int | None = None
    last_backup_age_seconds: float | None = None
    problems: list[str] = []


class DrillSummary(BaseModel):
    """The drill step's verdict, read back from its report (``drill/drill.json``)."""

    source: str
    partner: str
    passed: bool
    objects: str  # "equal/compared"
    apps: str | None = None  # "answering equal/drilled", with volume files compared
    files: int | None = None
    rpo_seconds: float | None = None
    rto_seconds: float | None = None


class Summary(BaseModel):
    seconds: float
    steps: list[dict[str, Any]]
    sites: list[SiteSummary]
    outputs: dict[str, str]
    drill: DrillSummary | None = None


def drill_summary(report: Path) -> DrillSummary | None:
    if not report.is_file():
        return None
    data = json.loads(report.read_text(encoding="utf-8"))
    apps = data.get("apps") or {}
    files = sum(int((a.get("source") or {}).get("volume", {}).get("files") or 0) for a in apps.values())
    return DrillSummary(
        source=data["source"], partner=data["partner"], passed=bool(data["passed"]),
        objects=f"{data['objects_equal']}/{data['objects_compared']}",
        apps=f"{data.get('apps_equal', 0)}/{len(apps)}" if apps else None, files=files or None,
        rpo_seconds=data.get("rpo_seconds"), rto_seconds=data.get("rto_seconds"),
    )  # fmt: skip


def lynis_scores(report_index: Path) -> dict[str, NodeScore]:
    """Node name -> score, from the hardening report's ``index.json`` (missing file: no scores)."""
    if not report_index.is_file():
        return {}
    from pdn.harden.report import kube_bench_line

    data = json.loads(report_index.read_text(encoding="utf-8"))
    scores = {}
    for node in data.get("nodes", []):
        bench = node.get("kube_bench")
        scores[node["node"]] = NodeScore(
            node=node["node"],
            role=node["role"],
            lynis_index=node["lynis"]["hardening_index"],
            kube_bench=None if bench is None else kube_bench_line(bench),
            kube_bench_ok=None if bench is None else bool(bench.get("ok")),
        )
    return scores


def kubelet_states(site_id: str) -> dict[str, tuple[str, bool]]:
    """Node name -> (kubelet version, Ready) of the site's real nodes, from its API server."""
    from pdn.lab.kube_addons import node_states
    from pdn.sites import load_sites

    return {state.name: (state.kubelet, state.ready) for state in node_states(load_sites().site(site_id))}


def wave_one_apps(plan_csv: Path, site: str) -> list[str]:
    if not plan_csv.is_file():
        return []
    with plan_csv.open(encoding="utf-8") as handle:
        return [row["app_id"] for row in csv.DictReader(handle) if row.get("wave") == "1" and row.get("site") == site]


def fully_verified(ledger_file: Path) -> bool:
    """True when the app's copy ledger has objects and every one was verified against its SHA-256."""
    from pdn.migrate.ledger import Ledger

    if not ledger_file.is_file():
        return False
    with Ledger(ledger_file, exclusive=False) as ledger:
        states = ledger.summary()["states"]
    return bool(states) and set(states) == {"verified"}


def count_tenants(site: str) -> int:
    from pdn.upinputs import tenant_namespaces

    return len(tenant_namespaces(site))


def backup_state(site: str, now: datetime) -> tuple[int, int, float | None]:
    """Completed and failed Velero backups ``site`` took itself, and the age of its newest completed one."""
    try:
        items = kube.site(site).list_items(kube.path("velero.io/v1", "backups", VELERO_NAMESPACE))
    except kube.KubeError as error:
        if error.status == 404:
            raise LookupError("Velero's Backup API is not installed in this cluster (no drill ran here)") from None
        raise
    return summarise_backups(items, now)


def summarise_backups(items: list[dict[str, Any]], now: datetime) -> tuple[int, int, float | None]:
    """(completed, failed, age of the newest completed) over the backups a site took itself."""
    completed: list[datetime] = []
    failed = 0
    for item in items:
        if not str((item.get("spec") or {}).get("storageLocation", "")).startswith(OWN_LOCATION_PREFIX):
            continue  # a partner's backup, synced here from its bucket for restores: not this site's RPO
        status = item.get("status") or {}
        if status.get("phase") == "Completed" and status.get("completionTimestamp"):
            completed.append(kube.parse_time(status["completionTimestamp"]))
        elif status.get("phase") in FAILED_PHASES:
            failed += 1
    age = (now - max(completed)).total_seconds() if completed else None
    return len(completed), failed, age


def _attempt(site: SiteSummary, what: str, read: Callable[[], T]) -> T | None:
    """Run one read-back; a failure becomes a line in the site's problems instead of an abort."""
    try:
        return read()
    except Exception as error:  # the summary reports whatever it cannot read
        site.problems.append(f"{what}: {str(error).splitlines()[0][:160]}")
        return None


def site_summary(site_id: str, out: Path, scores: dict[str, NodeScore], now: datetime) -> SiteSummary:
    from pdn.nodes import list_nodes

    site = SiteSummary(site=site_id)
    nodes = _attempt(site, "nodes", lambda: [n for n in list_nodes(site_id) if n.state == "running"]) or []
    site.nodes_running = len(nodes)
    site.nodes = [scores.get(node.name, NodeScore(node=node.name, role=node.role, lynis_index=None)) for node in nodes]
    if any(node.address for node in nodes):
        kubelets = _attempt(site, "kubelets", lambda: kubelet_states(site_id)) or {}
        for score in site.nodes:
            if score.node in kubelets:
                score.kubelet, score.ready = kubelets[score.node]
    site.tenants = _attempt(site, "tenants", lambda: count_tenants(site_id))
    apps = wave_one_apps(out / "migrate" / "plan.csv", site_id)
    site.apps_wave_one = len(apps)
    ledgers = out / "migrate" / COPY_LEDGERS
    site.apps_migrated = sum(
        fully_verified(ledgers / f"{app}.sqlite") or fully_verified(ledgers / f"{app}.job.sqlite") for app in apps
    )
    live_file = out / "migrate" / "golive" / f"{site_id}.json"
    if live_file.is_file():
        live = json.loads(live_file.read_text(encoding="utf-8"))
        site.apps_live, site.apps_ready, site.apps_smoke_verified = live["apps"], live["ready"], live["verified"]
        copy = live.get("copy") or {}
        jobs = len(copy.get("indexed_job", []))
        site.copy_ran = (
            f"{jobs} as Indexed Job ({copy.get('job_pods')} pods), {copy.get('one_process', 0)} in one process"
        )
        isolation = live.get("isolation") or {}
        site.tenants_isolated = isolation.get("blocked_both_ways") if isolation.get("checked") else None
    backups = _attempt(site, "backups", lambda: backup_state(site_id, now))
    if backups is not None:
        site.backups_completed, site.backups_failed, site.last_backup_age_seconds = backups
    return site


def gather(sites: list[str], out: Path, steps: list[StepTiming], seconds: float) -> Summary:
    from pdn.harden.report import INDEX_JSON

    scores = lynis_scores(out / "harden" / INDEX_JSON)
    now = datetime.now(UTC)
    outputs = {
        "hardening reports (per node, HTML)": str(out / "harden"),
        "drill report": str(out / "drill"),
        "migration plan and runbooks": str(out / "migrate"),
        "site map": str(paths.repo_root() / "docs" / "img" / "sites-map.png"),
        "summary": str(out / "summary.json"),
    }
    return Summary(
        seconds=seconds,
        steps=[{"step": s.name, "result": s.result, "seconds": round(s.seconds, 1)} for s in steps],
        sites=[site_summary(site, out, scores, now) for site in sites],
        outputs=outputs,
        drill=drill_summary(out / "drill" / "drill.json"),
    )


def write_summary(summary: Summary, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(summary.model_dump(), indent=2) + "\n", encoding="utf-8")
    temporary.replace(path)


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def _scores(site: SiteSummary) -> str:
    known = [n.lynis_index for n in site.nodes if n.lynis_index is not None]
    if not known:
        return "-"
    return f"{min(known)}" if min(known) == max(known) else f"{min(known)}-{max(known)}"


def print_summary(summary: Summary) -> None:
    steps = Table("step", "result", "seconds", title="pdn up: steps")
    for step in summary.steps:
        steps.add_row(step["step"], step["result"], f"{step['seconds']:.0f}")
    console.print(steps)
    sites = Table(
        "site", "nodes hardened", "Lynis", "tenants", "wave-1 apps migrated", "backups", "last backup", title="sites"
    )
    for site in summary.sites:
        hardened = sum(1 for n in site.nodes if n.lynis_index is not None)
        backups = (
            "-" if site.backups_completed is None else f"{site.backups_completed} ok, {site.backups_failed} failed"
        )
        sites.add_row(
            site.site,
            f"{hardened}/{site.nodes_running}",
            _scores(site),
            "-" if site.tenants is None else str(site.tenants),
            f"{site.apps_migrated}/{site.apps_wave_one}",
            backups,
            _age(site.last_backup_age_seconds),
        )
    console.print(sites)
    live_sites = [site for site in summary.sites if site.apps_live is not None]
    if live_sites:
        live = Table("site", "apps running", "Ready", "smoke verified", "tenants isolated", "data copy ran",
                     title="wave 1 on the real nodes")  # fmt: skip
        for site in live_sites:
            isolated = {True: "yes", False: "[red]no[/]", None: "-"}[site.tenants_isolated]
            verified = f"{site.apps_smoke_verified}/{site.apps_live}"
            live.add_row(site.site, str(site.apps_live), f"{site.apps_ready}/{site.apps_live}",
                         verified if site.apps_smoke_verified == site.apps_live else f"[red]{verified}[/]",
                         isolated, site.copy_ran or "-")  # fmt: skip
        console.print(live)
    if summary.drill is not None:
        drill = summary.drill
        table = Table("from", "to", "verdict", "objects equal", "apps answering equal", "volume files (SHA-256)",
                      "RPO", "RTO", title="restore drill")  # fmt: skip
        verdict = "PASS" if drill.passed else "[red]FAIL[/]"
        ages = (_age(drill.rpo_seconds), _age(drill.rto_seconds))
        table.add_row(
            drill.source, drill.partner, verdict, drill.objects, drill.apps or "-", str(drill.files or "-"), *ages
        )
        console.print(table)
    real = [(site.site, node) for site in summary.sites for node in site.nodes if node.kubelet is not None]
    if real:
        nodes = Table("site", "node", "kubelet", "Ready", "Lynis", "kube-bench (CIS node checks)", title="real nodes")
        for site_id, node in real:
            lynis = "-" if node.lynis_index is None else str(node.lynis_index)
            ready = "yes" if node.ready else "[red]no[/]"
            bench = node.kube_bench or "-"
            nodes.add_row(
                site_id, node.node, node.kubelet, ready, lynis, bench if node.kube_bench_ok else f"[red]{bench}[/]"
            )
        console.print(nodes)
    for site in summary.sites:
        for problem in site.problems:
            console.print(f"[yellow]{site.site}: could not read {problem}[/]")
    for name, where in summary.outputs.items():
        console.print(f"{name}: {where}")
    console.print(
        f"done in {summary.seconds / 60:.1f} min. Tear it all down with [bold]pdn down[/] "
        "(add --purge to delete the lab's state too)."
    )
