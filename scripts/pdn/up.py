"""``pdn up`` and ``pdn down``: the main job on the local lab, end to end, and its tear-down.

Each step runs one of pdn's own idempotent commands as a child process, so a re-run converges:
what is already built, running, hardened or deployed is kept, and an interrupted run finishes
the job when started again. The steps are deliberately the commands an operator would type.

A re-run is also quick: after a step (or one node, stack, app or site of it) succeeds, its input
digest is recorded (:mod:`pdn.converge`, :mod:`pdn.upinputs`); the next run skips what has the
same inputs and is still there, says so in the step line, and redoes only what changed.
``--force STEP`` runs a step anyway.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape

from pdn import paths, upinputs
from pdn.child import run_pdn
from pdn.console import console
from pdn.converge import Record, Records
from pdn.errors import InputError, PdnError
from pdn.upsummary import StepTiming, gather, print_summary, write_summary

if TYPE_CHECKING:
    from pdn.nodes.runtime import Node

DONE = "done"
UNCHANGED = "unchanged"
STEPS = ("toolchain", "lab", "harden", "harden-report", "plan", "stacks", "migrate", "drill")


@dataclass(frozen=True)
class Step:
    name: str
    action: Callable[[], str | None]  # returns the step's result when not simply "done"


@dataclass(frozen=True)
class Converge:
    """The records of earlier runs, and the steps the operator wants run whatever they say."""

    records: Records
    forced: frozenset[str]

    def fresh(self, step: str, key: str, digest: str) -> Record | None:
        """The record of ``key`` when it has ``digest`` and ``step`` is not forced."""
        return None if step in self.forced else self.records.matches(key, digest)


def _say_unchanged(step: str, record: Record, what: str = "") -> None:
    line = f"[green]{step}: {what or 'nothing to do'}, {record.describe()}[/]; `pdn up --force {step}` runs it anyway"
    console.print(line, soft_wrap=True, highlight=False)  # one line per decision, also in a log


def _pdn(*args: str) -> None:
    """Run ``pdn ARGS`` in a child process; its own output and progress bars go to the terminal."""
    run_pdn(*args, hint="fix it and re-run `pdn up`")


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
    _pdn("migrate", "render", "-i", str(inventory), "-o", str(out), "--wave", "1", "--lab")
    _pdn("migrate", "runbook", "-i", str(inventory), "-o", str(out), "--wave", "1")


def _source_digests(folder: Path) -> dict[str, str]:
    """Key -> SHA-256 of every file of a legacy data folder (keys as copy names them)."""
    import hashlib

    return {
        path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def _site_reporter(site: str) -> Callable[[str], None]:
    def report(line: str) -> None:
        console.print(f"[cyan]{site:<12}[/] {escape(line)}")

    return report


#: The lab's stand-in for a legacy data centre's own export store (an S3 endpoint the site's
#: pods can read): sources of the copies that run as Jobs on the cluster.
LEGACY_EXPORT_BUCKET = "pdn-legacy-export"


def _stage_legacy_export(site: str, app_id: str, folder: Path) -> str:
    """Upload the app's legacy stand-in files under ``<app>/`` of the site's legacy export bucket
    (what is there with the same size is kept); return the ``s3://`` source URL."""

    client = _site_s3(site)
    if LEGACY_EXPORT_BUCKET not in _buckets(client):
        client.create_bucket(Bucket=LEGACY_EXPORT_BUCKET)
    listing = client.list_objects_v2(Bucket=LEGACY_EXPORT_BUCKET, Prefix=f"{app_id}/")
    present = {item["Key"]: item["Size"] for item in listing.get("Contents", [])}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        key = f"{app_id}/{path.relative_to(folder).as_posix()}"
        if present.get(key) != path.stat().st_size:
            client.upload_file(str(path), LEGACY_EXPORT_BUCKET, key)
    return f"s3://{LEGACY_EXPORT_BUCKET}/{app_id}/"


def _copy_and_verify(out: Path, site: str, app_id: str, source: Path, on_cluster: bool) -> None:
    """``pdn migrate copy`` + ``verify`` of one app: as an Indexed Job on the site's cluster (from
    the legacy export store), or as one process on this machine (from the folder)."""
    from pdn.lab.endpoints import s3_endpoint

    credentials = str(_lab_credentials_file(site))
    target = ["--site", site, "--endpoint", s3_endpoint(site), "--credentials", credentials, "-o", str(out)]
    if not on_cluster:
        _pdn("migrate", "copy", app_id, "--source", str(source), *target)
        _pdn("migrate", "verify", app_id, "--source", str(source), *target)
        return
    url = _stage_legacy_export(site, app_id, source)
    _pdn("migrate", "copy", app_id, "--source", url, "--source-endpoint", s3_endpoint(site),
         "--source-credentials", credentials, *target, "--on-cluster", "--parallelism", str(JOB_PODS),
         "--shard-size", "8", "--watch", "--watch-timeout", "900")  # fmt: skip
    _pdn("migrate", "verify", app_id, *target, "--on-cluster")


JOB_PODS = 2  # pods of a lab copy Job at a time (the lab's node has two cores)


def _site_s3(site: str) -> Any:
    """A boto3 client of the site's lab MinIO, as its root user."""
    from pdn.lab.endpoints import s3_credentials, s3_endpoint, s3_region
    from pdn.s3client import s3_client

    return s3_client(s3_endpoint(site), s3_region(site), *s3_credentials(site))


def _buckets(client: Any) -> set[str]:
    return {bucket["Name"] for bucket in client.list_buckets().get("Buckets", [])}


def _copied_already(out: Path, app_id: str, on_cluster: bool, buckets: set[str]) -> bool:
    """The app's copy ledger has every object verified and its target bucket is still there."""
    from pdn.migrate.workspace import COPY_LEDGERS
    from pdn.naming import bucket_name
    from pdn.upsummary import fully_verified

    ledger = out / COPY_LEDGERS / f"{app_id}{'.job' if on_cluster else ''}.sqlite"
    return bucket_name(app_id) in buckets and fully_verified(ledger)


def _live_already(out: Path, site: str, folders: list[Path], record: Record) -> bool:
    """The site's last go-live verified every app, its credentials are within half their lifetime,
    and every app is Ready now."""
    import json

    from pdn import kube
    from pdn.migrate import appcreds, smoke

    result_file = out / "golive" / f"{site}.json"
    if not result_file.is_file() or record.age_seconds() > appcreds.DURATION_SECONDS / 2:
        return False
    result = json.loads(result_file.read_text(encoding="utf-8"))
    if result.get("failed") or result.get("verified") != len(folders):
        return False
    client = kube.site(site)
    for folder in folders:
        app = smoke.read_service(folder)
        if smoke.ready_replicas(client, app) < app.replicas:
            return False
    return True


def _migrate_first_wave(
    out: Path, sites: list[str], real_nodes: bool, job_copy_gb: float, converge: Converge
) -> str | None:
    """Wave 1 for real on ``sites``: legacy data copied and verified (apps of at least
    ``job_copy_gb`` as Indexed Jobs on the site's cluster), then, on real nodes, every app's
    credentials, manifests, rollout and smoke check (pdn.migrate.golive): ``golive/<site>.json``.
    A copy or a site's go-live with unchanged inputs whose result is still there is skipped."""
    import json

    from pdn.lab.endpoints import s3_credentials, s3_endpoint, s3_region
    from pdn.migrate import golive
    from pdn.naming import bucket_name

    inventory = out / "inventory"
    with (out / "plan.csv").open(encoding="utf-8") as handle:
        wave_one = [row for row in csv.DictReader(handle) if row.get("wave") == "1" and row.get("site") in sites]
    with (inventory / "inventory.csv").open(encoding="utf-8") as handle:
        data_gb = {row["app_id"]: float(row["data_gb"] or 0) for row in csv.DictReader(handle)}
    if not wave_one:
        console.print(f"[yellow]no application of wave 1 is placed on {', '.join(sites)}: nothing to move there[/]")
    expected: dict[str, dict[str, str]] = {}
    as_job: dict[str, list[str]] = {site: [] for site in sites}
    buckets = {site: _buckets(_site_s3(site)) for site in sites if any(row["site"] == site for row in wave_one)}
    ran: list[str] = []  # apps copied and sites gone live in this run
    for row in wave_one:
        app_id, site = row["app_id"], row["site"]
        source = _legacy_data(app_id, data_gb.get(app_id, 1.0), out / "legacy-data")
        expected[app_id] = _source_digests(source)
        on_cluster = real_nodes and data_gb.get(app_id, 0.0) >= job_copy_gb
        if on_cluster:
            as_job[site].append(app_id)
        key, digest = f"copy/{app_id}", upinputs.copy_digest(site, app_id, expected[app_id], on_cluster)
        if converge.fresh("migrate", key, digest) and _copied_already(out, app_id, on_cluster, buckets[site]):
            continue
        _copy_and_verify(out, site, app_id, source, on_cluster)
        converge.records.put(key, digest)
        ran.append(app_id)
    skipped = len(wave_one) - len(ran)
    if skipped:
        console.print(f"[green]migrate: {skipped} of {len(wave_one)} copies already done and verified: skipped[/]")
    if not real_nodes:
        console.print("[yellow]no real nodes (--nodes 0): wave 1's apps are copied, not started[/]")
        return _migrate_result(ran, len(wave_one))
    for site in sites:
        folders = [
            out / "manifests" / row["app_id"]
            for row in wave_one
            if row["site"] == site and (out / "manifests" / row["app_id"]).is_dir()
        ]
        key, digest = f"golive/{site}", upinputs.golive_digest(site, folders, expected)
        record = converge.fresh("migrate", key, digest)
        if record is not None and _live_already(out, site, folders, record):
            _say_unchanged("migrate", record, f"{site}: {len(folders)} apps Ready and verified")
            continue
        ran.append(site)
        access_key, secret_key = s3_credentials(site)
        access = golive.StoreAccess(s3_endpoint(site), s3_region(site), access_key, secret_key)
        result = golive.go_live(
            site,
            folders,
            {folder.name: bucket_name(folder.name) for folder in folders},
            expected,
            access,
            out,
            report=_site_reporter(site),
        )
        moved = sum(row["site"] == site for row in wave_one)
        result["copy"] = {"indexed_job": as_job[site], "one_process": moved - len(as_job[site]), "job_pods": JOB_PODS}
        target = out / "golive" / f"{site}.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        if result["failed"]:
            raise PdnError(
                f"{site}: wave-1 apps not verified: {', '.join(result['failed'])}",
                hint=f"see {out / 'smoke'} and `kubectl -n <tenant> describe pods`",
            )
        converge.records.put(key, digest)
    if ran:
        _pdn("migrate", "runbook", "-i", str(inventory), "-o", str(out), "--wave", "1")  # now with the evidence
    return _migrate_result(ran, len(wave_one) + len(sites))


def _migrate_result(ran: list[str], parts: int) -> str:
    return UNCHANGED if not ran else DONE if len(ran) == parts else f"{DONE}: {len(ran)} of {parts} copies/sites"


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
    # The chosen sites' nodes are real Kubernetes nodes: the containers pdn harden hardens, joined with
    # kubeadm. The drill's partner gets real nodes too: the drill's apps run again there.
    real = [site for site in plan.lab if site in plan.chosen or (nodes and site == plan.drill_to)]
    _pdn("lab", "up", *_site_args(real), *(["--real-nodes", str(nodes)] if nodes else []))
    extra = [site for site in plan.lab if site not in real]
    if extra:  # partners: their clusters and object stores, no nodes
        _pdn("lab", "up", *_site_args(extra))


def _harden(plan: SitePlan, every_site: bool, *args: str) -> None:
    """``pdn harden`` takes one site or all of them."""
    for site_args in [[]] if every_site else [["--site", site] for site in plan.chosen]:
        _pdn("harden", *args, *site_args)


def _step_nodes(plan: SitePlan, every_site: bool) -> list[Node]:
    """The running node containers the hardening steps act on."""
    from pdn.nodes import list_nodes

    return [n for n in list_nodes() if n.state == "running" and (every_site or n.site in plan.chosen)]


def _harden_changed(plan: SitePlan, every_site: bool, converge: Converge) -> str:
    """Harden the nodes whose hardening inputs or state changed since their last hardening."""
    nodes = _step_nodes(plan, every_site)
    if not nodes:  # pdn harden says what is missing
        _harden(plan, every_site)
        return DONE
    playbooks = upinputs.hardening_inputs()
    digests = {n.name: upinputs.harden_digest(n, playbooks, upinputs.node_state(n)) for n in nodes}
    changed = [n for n in nodes if not converge.fresh("harden", f"harden/{n.name}", digests[n.name])]
    if not changed:
        record = converge.records.get(f"harden/{nodes[0].name}")
        assert record is not None
        _say_unchanged("harden", record, f"{len(nodes)} node(s) hardened with these playbooks")
        return UNCHANGED
    if len(changed) == len(nodes):
        _harden(plan, every_site)
    else:
        console.print(f"harden: {len(changed)} of {len(nodes)} node(s) changed: {', '.join(n.name for n in changed)}")
        _pdn("harden", "--limit", ",".join(n.name for n in changed))
    for node in changed:  # hardening changes the packages: record the state it left
        converge.records.put(f"harden/{node.name}", upinputs.harden_digest(node, playbooks, upinputs.node_state(node)))
    return DONE if len(changed) == len(nodes) else f"{DONE}: {len(changed)} of {len(nodes)} nodes"


def _report_changed(plan: SitePlan, every_site: bool, folder: Path, converge: Converge) -> str:
    """Re-scan the nodes hardened (or re-created) since their last report, or without one."""
    nodes = _step_nodes(plan, every_site)
    judge = upinputs.judging_inputs()
    digests = {
        n.name: upinputs.report_digest(n.name, getattr(converge.records.get(f"harden/{n.name}"), "digest", None), judge)
        for n in nodes
    }
    stale = [
        n
        for n in nodes
        if not converge.fresh("harden-report", f"report/{n.name}", digests[n.name])
        or not (folder / f"{n.name}.json").is_file()
    ]
    if nodes and not stale:
        record = converge.records.get(f"report/{nodes[0].name}")
        assert record is not None
        _say_unchanged("harden-report", record, f"{len(nodes)} node(s) unchanged since their report")
        return UNCHANGED
    if len(stale) == len(nodes):
        _harden(plan, every_site, "report", "--out", str(folder))
    else:  # the other nodes keep their reports (pdn harden report --node)
        for site in [None] if every_site else sorted({n.site for n in stale}):
            picked = [arg for n in stale if site in (None, n.site) for arg in ("--node", n.name)]
            _pdn("harden", "report", "--out", str(folder), *(["--site", site] if site else []), *picked)
    for node in stale:
        converge.records.put(f"report/{node.name}", digests[node.name])
    return DONE if len(stale) == len(nodes) else f"{DONE}: {len(stale)} of {len(nodes)} nodes"


def _plan_changed(out: Path, apps: int, converge: Converge) -> str:
    record = converge.fresh("plan", "plan", upinputs.plan_digest(out, apps))
    if record is not None and record.extra.get("outputs") == upinputs.plan_outputs(out):
        _say_unchanged("plan", record, "inventory, site model and planner unchanged")
        return UNCHANGED
    _plan_migration(out, apps)
    converge.records.put("plan", upinputs.plan_digest(out, apps), outputs=upinputs.plan_outputs(out))
    return DONE


def _tenant_namespaces(site: str) -> set[str]:
    """The site's tenant namespaces now; none when its cluster does not answer (the stack runs)."""
    try:
        return set(upinputs.tenant_namespaces(site))
    except PdnError:
        return set()


def _stacks_changed(plan: SitePlan, tenants: list[str], converge: Converge) -> str:
    """``pdn stacks up`` for the stacks whose inputs changed or whose tenant namespaces went away."""
    tenants_file = Path(tenants[1]) if tenants else None
    digests = {site: upinputs.stack_digest(site, tenants_file) for site in plan.stacks}
    changed = []
    for site in plan.stacks:
        record = converge.fresh("stacks", f"stacks/{site}", digests[site])
        if record is None or not set(record.extra.get("namespaces", [])) <= _tenant_namespaces(site):
            changed.append(site)
    if not changed:
        record = converge.records.get(f"stacks/{plan.stacks[0]}")
        assert record is not None
        _say_unchanged("stacks", record, f"{len(plan.stacks)} stack(s): program, config and site model")
        return UNCHANGED
    _pdn("stacks", "up", "--lab", *_site_args(changed), *tenants)
    for site in changed:  # the digest holds the tenants as onboarded, so it is the same after the run
        converge.records.put(f"stacks/{site}", digests[site], namespaces=upinputs.tenant_namespaces(site))
    return DONE if len(changed) == len(plan.stacks) else f"{DONE}: {len(changed)} of {len(plan.stacks)} stacks"


def _drill_changed(plan: SitePlan, drill: list[str], report: Path, converge: Converge) -> str:
    """Drill again when its arguments, either site's stack or cluster, or the backup code changed,
    or the last drill did not pass."""
    import json

    sites = [plan.drill_from, plan.drill_to]
    stacks = {site: getattr(converge.records.get(f"stacks/{site}"), "digest", None) for site in sites}
    digest = upinputs.drill_digest(drill, sites, stacks)
    record = converge.fresh("drill", "drill", digest)
    passed = report.is_file() and bool(json.loads(report.read_text(encoding="utf-8")).get("passed"))
    if record is not None and passed:
        _say_unchanged("drill", record, f"the last drill {plan.drill_from} -> {plan.drill_to} passed")
        return UNCHANGED
    _pdn(*drill)
    converge.records.put("drill", digest)
    return DONE


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
    job_copy_gb: float = typer.Option(
        20.0,
        "--job-copy-gb",
        min=0,
        help="Wave-1 apps with at least this much legacy data (GB, inventory) copy as an Indexed Job on their "
        "site's cluster (real nodes only); smaller ones in one process here.",
    ),
    skip: list[str] = typer.Option(None, "--skip", help="Skip a step by name (repeatable)."),
    force: list[str] = typer.Option(
        None,
        "--force",
        help="Run a step even when its inputs are unchanged since it last succeeded (repeatable; 'all': every step).",
    ),
) -> None:
    """Run the main job on the local lab: toolchain, lab, hardening, plan, stacks, migration, drill, summary.

    Every step is one of pdn's own idempotent commands, so re-running converges and an interrupted
    run finishes the job. A re-run skips what has not changed since it last succeeded: a node whose
    playbooks, inventory entry and packages are the same, a report of unchanged nodes, a plan of the
    same inventory, a stack with the same program, config, site model and cluster, a verified copy,
    a site whose apps are still Ready and verified, a drill that passed with the same stacks; each
    step line says which. The toolchain and lab steps always run (they check and are quick).
    The summary is also written to out/up/summary.json.
    """
    plan = plan_sites(sites or [])
    every_site = len(plan.chosen) == len(plan_sites([]).chosen)
    out = paths.out_dir() / "up"
    drill = [
        *("backup", "drill", "--from", plan.drill_from, "--to", plan.drill_to),
        *("--seed", "100", "--report-dir", str(out / "drill")),
        # With real nodes the drill also brings an app back running, with its volume of files.
        *(["--apps", "1"] if nodes else []),
    ]
    tenants_file = out / "migrate" / "tenants.yaml"  # wave 1's tenants, written by the plan step
    tenants = ["--tenants", str(tenants_file)] if tenants_file.is_file() or "plan" not in (skip or []) else []
    forced = set(force or [])
    unknown = (set(skip or []) | forced - {"all"}) - set(STEPS)
    if unknown:
        raise InputError(f"unknown step(s) {', '.join(sorted(unknown))}; steps: {', '.join(STEPS)}")
    converge = Converge(Records(), frozenset(STEPS if "all" in forced else forced))
    steps = [
        Step("toolchain", lambda: _pdn("toolchain", "build")),
        Step("lab", lambda: _lab_up(plan, nodes)),
        Step("harden", lambda: _harden_changed(plan, every_site, converge)),
        Step("harden-report", lambda: _report_changed(plan, every_site, out / "harden", converge)),
        Step("plan", lambda: _plan_changed(out / "migrate", apps, converge)),
        Step("stacks", lambda: _stacks_changed(plan, tenants, converge)),
        Step("migrate", lambda: _migrate_first_wave(out / "migrate", plan.chosen, nodes > 0, job_copy_gb, converge)),
        Step("drill", lambda: _drill_changed(plan, drill, out / "drill" / "drill.json", converge)),
    ]
    assert tuple(step.name for step in steps) == STEPS
    timings: list[StepTiming] = []
    started_all = time.monotonic()
    for step in steps:
        if step.name in (skip or []) or (nodes == 0 and step.name.startswith("harden")):
            timings.append(StepTiming(step.name, "skipped", 0.0))
            continue
        console.rule(f"[bold]{step.name}")
        started = time.monotonic()
        result = step.action() or DONE
        timings.append(StepTiming(step.name, result, time.monotonic() - started))
    summary = gather(plan.chosen, out, timings, time.monotonic() - started_all)
    write_summary(summary, out / "summary.json")
    print_summary(summary)


def down_command(
    purge: bool = typer.Option(False, "--purge", help="Also delete the lab's state (clusters, buckets, nodes)."),
) -> None:
    """Tear the local lab down: every process and node container (``--purge``: its state too)."""
    _pdn("lab", "down", *(["--purge"] if purge else []))
