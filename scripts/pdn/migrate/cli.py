"""``pdn migrate``: the legacy migration toolkit, one command per stage (in pipeline order)."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from pdn.console import console
from pdn.errors import InputError
from pdn.migrate import workspace as ws
from pdn.progress import StepProgress
from pdn.safeload import shown

if TYPE_CHECKING:
    from pdn.migrate.render import LabRuntime

app = typer.Typer(
    help="Legacy migration: inventory -> duplicates and super apps -> waves -> manifests -> data -> cutover.",
    no_args_is_help=True,
)

INVENTORY = typer.Option(None, "--inventory", "-i", help="Inventory file or folder [default: out/migrate/inventory].")
DATACENTERS = typer.Option(None, "--datacenters", help="datacenters file [default: next to the inventory].")
OUT = typer.Option(None, "--out", "-o", help="Output folder of the pipeline [default: out/migrate].")


def _out(out: Path | None) -> Path:
    return ws.output_folder(out or ws.default_out())


def _ledger_path(folder: Path, app_id: str) -> Path:
    """``copy/<app>.sqlite`` inside the output folder; the app id must be an identifier."""
    from pdn import naming

    if not naming.is_identifier(app_id):
        raise InputError(f"APP {app_id!r}: {naming.IDENTIFIER_RULE}", hint="app ids come from the inventory's app_id")
    return ws.inside(folder, ws.COPY_LEDGERS, f"{naming.app_folder(app_id)}.sqlite")


def _load(inventory: Path | None, datacenters: Path | None, out: Path) -> Any:
    """Every stage starts here: nothing runs on an invalid inventory."""
    from pdn.migrate.pipeline import load

    return load(inventory or ws.default_inventory(), datacenters, out)


def _index(rows: list[dict[str, str]]) -> dict[str, dict[str, str]]:
    from pdn.migrate.pipeline import index

    return index(rows)


def _summary(title: str, values: dict[str, Any]) -> None:
    table = Table(title=title, show_header=False, title_justify="left")
    for key, value in values.items():
        table.add_row(str(key), escape(str(value)))
    console.print(table)


@contextmanager
def _step(label: str) -> Iterator[None]:
    start = time.perf_counter()
    with console.status(label):
        yield
    console.print(f"[green]✓[/] {label} ({time.perf_counter() - start:.1f} s)")


@app.command()
def generate(
    out: Path = typer.Option(
        None, "--out", "-o", help="Folder for inventory, datacenters, labels [default: out/migrate/inventory]."
    ),
    apps: int = typer.Option(24_400, min=1, help="Number of applications."),
    datacenters: int = typer.Option(2_700, min=1, help="Number of legacy data centres."),
    seed: int = typer.Option(42, help="Random seed: same seed, same files."),
    fmt: str = typer.Option("csv", "--format", help="csv, json or yaml."),
    split: str = typer.Option(
        "seen",
        "--split",
        help=(
            "seen, or tuning/heldout/heldout2/heldout3/heldout4/heldout5/heldout6: "
            "12 % long-tail functions of that split's own vocabulary."
        ),
    ),
) -> None:
    """Write a realistic synthetic national inventory (deterministic per seed) with true labels."""
    from pdn.migrate.generate import SPLITS
    from pdn.migrate.generate import generate as make

    if fmt not in ("csv", "json", "yaml"):
        raise InputError(f"--format {fmt!r}: use csv, json or yaml")
    if split not in SPLITS:
        raise InputError(f"--split {split!r}: use {', '.join(SPLITS)}")
    target = out or ws.default_inventory()
    with _step(f"generate {apps} apps, {datacenters} data centres"):
        counts = make(target, apps, datacenters, seed, fmt, split)
    _summary(f"inventory in {target}", counts)


@app.command()
def validate(inventory: Path = INVENTORY, datacenters: Path = DATACENTERS, out: Path = OUT) -> None:
    """Schema and reference checks; every problem with file, line and field (problems.csv)."""
    from pdn.migrate import inventory as inv

    folder = _out(out)
    source = inventory or ws.default_inventory()
    if not source.exists():
        raise InputError(f"inventory {source} does not exist", hint="run `pdn migrate generate` or pass --inventory")
    loaded, problems = inv.check(source, datacenters)
    ws.write_csv(
        folder / ws.PROBLEMS,
        ["file", "line", "field", "message"],
        ([p.file, p.line, p.field, p.message] for p in problems),
    )
    if loaded is None:
        ws.write_json(folder / ws.VALIDATION, {"valid": False, "problems": len(problems)})
        raise inv.InventoryError(problems)
    ws.write_json(
        folder / ws.VALIDATION,
        {
            "valid": True,
            "apps": len(loaded.apps),
            "datacenters": len(loaded.datacenters),
            "inventory": shown(loaded.app_file),
            "extra_columns": list(loaded.extra_columns),
        },
    )
    _summary(
        "inventory is valid",
        {
            "apps": len(loaded.apps),
            "datacenters": len(loaded.datacenters),
            "extra columns kept": ", ".join(loaded.extra_columns) or "-",
        },
    )


@app.command()
def assess(
    inventory: Path = INVENTORY,
    datacenters: Path = DATACENTERS,
    out: Path = OUT,
    as_of: str = typer.Option(None, "--as-of", help="Date the stack ages are measured at [default: today]."),
    eol: Path = typer.Option(None, "--eol", help="Extra end-of-life table merged over the shipped one."),
) -> None:
    """6R action per app with rationale, risk, effort and cloud readiness (assessment.csv)."""
    from pdn.migrate import assess as stage

    folder = _out(out)
    loaded = _load(inventory, datacenters, folder)
    counts = stage.run(loaded.apps, folder, _date(as_of), eol)
    _summary("assessment.csv: proposed actions", counts)


def _date(text: str | None) -> dt.date:
    if not text:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InputError(f"{text!r} is not a date (YYYY-MM-DD)") from None


@app.command()
def dedup(
    inventory: Path = INVENTORY,
    datacenters: Path = DATACENTERS,
    out: Path = OUT,
    glossary: Path = typer.Option(None, "--glossary", help="Extra glossary merged into the shipped one."),
    labels: Path = typer.Option(None, "--labels", help="app_id,function CSV: print pairwise precision/recall."),
) -> None:
    """Group apps serving the same function (clusters.csv with confidence and evidence)."""
    from pdn.migrate import dedup as stage

    folder = _out(out)
    loaded = _load(inventory, datacenters, folder)
    with _step("dedup"):
        counts = stage.run(loaded.apps, folder, glossary)
    _summary("clusters.csv", counts)
    if labels is not None:
        _score(folder / ws.CLUSTERS, labels)


def _score(clusters: Path, labels: Path) -> None:
    from pdn.migrate.metrics import by_split

    predicted = {r["app_id"]: r["cluster_id"] for r in ws.read_csv(clusters, "dedup")}
    rows = ws.read_csv(labels, "generate")
    truth = {r["app_id"]: r["function"] for r in rows}
    splits = {r["app_id"]: r.get("split") or "seen" for r in rows}
    table = Table("apps", "precision", "recall", "F1", title="pairwise quality against labels", title_justify="left")
    for name, scores in by_split(predicted, truth, splits).items():
        table.add_row(name, f"{scores.precision:.4f}", f"{scores.recall:.4f}", f"{scores.f1:.4f}")
    console.print(table)


@app.command()
def consolidate(
    inventory: Path = INVENTORY,
    datacenters: Path = DATACENTERS,
    out: Path = OUT,
    catalog: Path = typer.Option(None, "--catalog", help="Super-app catalog YAML [default: the shipped eight]."),
) -> None:
    """Map duplicate families to super apps: becomes / joins / retired-into (consolidation.csv)."""
    from pdn.migrate import consolidate as stage
    from pdn.sites import load_sites

    folder = _out(out)
    loaded = _load(inventory, datacenters, folder)
    counts = stage.run(
        loaded.apps,
        _index(ws.read_csv(folder / ws.CLUSTERS, "dedup")),
        _index(ws.read_csv(folder / ws.ASSESSMENT, "assess")),
        folder,
        load_sites(),
        catalog,
    )
    _summary("consolidation.csv: roles (column approved_by is for sign-off)", counts)


def _plan_options(start: str | None, cadence: int, ramp: str, max_tb: float, overcommit: float) -> Any:
    from pdn.migrate.plan import Options

    try:
        steps = tuple(int(part) for part in ramp.split(",") if part.strip())
    except ValueError:
        raise InputError(f"--ramp {ramp!r}: use comma-separated wave sizes, e.g. 25,50,100") from None
    if not steps or min(steps) < 1:
        raise InputError("--ramp needs at least one positive wave size")
    return Options(
        start=_date(start) if start else Options.start,
        cadence_days=cadence,
        ramp=steps,
        max_wave_tb=max_tb,
        overcommit=overcommit,
    )


START = typer.Option(None, "--start", help="Date of the first wave [default: 2027-01-11].")
CADENCE = typer.Option(14, "--cadence-days", min=1, help="Days between waves.")
RAMP = typer.Option("25,50,100,250,500,1000,2000", "--ramp", help="Apps per wave, ramping; the last repeats.")
MAX_TB = typer.Option(150.0, "--max-wave-tb", min=0.001, help="Most data (TB) a wave may move.")
OVERCOMMIT = typer.Option(16.0, "--overcommit", min=0.1, help="Tenant vCPU per worker vCPU (see docs/migration.md).")
BLACKOUTS = typer.Option(None, "--blackouts", help="Blackout periods YAML [default: shipped].")


@app.command()
def plan(
    inventory: Path = INVENTORY,
    datacenters: Path = DATACENTERS,
    out: Path = OUT,
    start: str = START,
    cadence_days: int = CADENCE,
    ramp: str = RAMP,
    max_wave_tb: float = MAX_TB,
    overcommit: float = OVERCOMMIT,
    blackouts: Path = BLACKOUTS,
    chart: bool = typer.Option(True, "--chart/--no-chart", help="Draw waves.png."),
) -> None:
    """Move groups, placement, ramping waves and dates (plan.csv, waves.csv, plan.json, waves.png)."""
    from pdn.migrate import plan as stage
    from pdn.sites import load_sites

    folder = _out(out)
    loaded = _load(inventory, datacenters, folder)
    options = _plan_options(start, cadence_days, ramp, max_wave_tb, overcommit)
    with _step("plan"):
        result = stage.run(
            loaded.apps,
            _index(ws.read_csv(folder / ws.CONSOLIDATION, "consolidate")),
            _index(ws.read_csv(folder / ws.ASSESSMENT, "assess")),
            load_sites(),
            folder,
            options,
            blackouts,
            chart,
        )
    _print_plan(result)


def _print_plan(result: dict[str, Any]) -> None:
    _summary("plan", result["summary"])
    table = Table("site", "capacity vCPU", "used vCPU", "apps", "utilisation", title="site load")
    for site, load in result["site_load"].items():
        table.add_row(
            site,
            str(load["capacity_vcpu"]),
            str(load["used_vcpu"]),
            str(load["apps"]),
            f"{100 * (load['utilisation'] or 0):.0f} %",
        )
    console.print(table)


@app.command()
def run(
    inventory: Path = INVENTORY,
    datacenters: Path = DATACENTERS,
    out: Path = OUT,
    as_of: str = typer.Option(None, "--as-of", help="Date for stack ages [default: today]."),
    start: str = START,
    cadence_days: int = CADENCE,
    ramp: str = RAMP,
    max_wave_tb: float = MAX_TB,
    overcommit: float = OVERCOMMIT,
    blackouts: Path = BLACKOUTS,
    chart: bool = typer.Option(True, "--chart/--no-chart"),
) -> None:
    """The whole pipeline validate -> assess -> dedup -> consolidate -> plan in one process."""
    from pdn.migrate import pipeline

    folder = _out(out)
    options = _plan_options(start, cadence_days, ramp, max_wave_tb, overcommit)
    result = pipeline.run(
        inventory or ws.default_inventory(),
        folder,
        datacenters=datacenters,
        as_of=_date(as_of),
        options=options,
        blackouts=blackouts,
        chart=chart,
        stage=_step,
    )
    _print_plan(result)


@app.command()
def runbook(
    inventory: Path = INVENTORY,
    datacenters: Path = DATACENTERS,
    out: Path = OUT,
    wave: int = typer.Option(None, "--wave", help="Only this wave."),
) -> None:
    """Markdown cutover runbook per wave: steps, verification evidence, rollback (runbooks/)."""
    from pdn.migrate import runbook as stage

    folder = _out(out)
    loaded = _load(inventory, datacenters, folder)
    written = stage.run(
        loaded.apps, ws.read_csv(folder / ws.WAVES, "plan"), ws.read_csv(folder / ws.PLAN_APPS, "plan"), folder, wave
    )
    if wave is not None and not written:
        raise InputError(f"there is no wave {wave} in the plan")
    console.print(f"[green]✓[/] {len(written)} runbooks in {folder / ws.RUNBOOKS}")


def _lab_runtime() -> LabRuntime:
    from pdn.lab import sitenet
    from pdn.migrate import render as stage

    def store(site_id: str) -> stage.ObjectStore:
        return stage.ObjectStore(sitenet.pod_s3_endpoint(site_id), (f"{sitenet.gateway(site_id)}/32",))

    return stage.LabRuntime(store)


@app.command()
def render(
    app_ids: list[str] = typer.Argument(None, metavar="[APP]...", help="Only these apps."),
    inventory: Path = INVENTORY,
    datacenters: Path = DATACENTERS,
    out: Path = OUT,
    wave: int = typer.Option(None, "--wave", help="Only apps of this wave."),
    registry: str = typer.Option("registry.pdn.go.id/migrate", help="Image registry prefix."),
    storage_class: str = typer.Option("", help="StorageClass for volumes [default: the cluster default]."),
    lab: bool = typer.Option(
        False,
        "--lab",
        help="For the local lab: the stand-in image (localhost/pdn/migrate:lab), the object store as pods "
        "on the lab's real nodes reach it, requests scaled to the lab's node. Production renders omit it.",
    ),
) -> None:
    """Kubernetes manifests per migrated app (manifests/<app>/), restricted Pod Security."""
    from pdn.migrate import render as stage
    from pdn.migrate.consolidate import load_catalog
    from pdn.sites import load_sites

    folder = _out(out)
    loaded = _load(inventory, datacenters, folder)
    sites = load_sites()
    catalog_file = folder / ws.CATALOG_USED
    catalog, _ = load_catalog(catalog_file if catalog_file.is_file() else None, sites)
    names = {item.id: item.name for item in catalog.superapps}
    written = stage.run(
        loaded.apps,
        ws.read_csv(folder / ws.PLAN_APPS, "plan"),
        names,
        sites,
        folder,
        registry,
        storage_class,
        set(app_ids) if app_ids else None,
        wave,
        _lab_runtime() if lab else None,
    )
    from pdn.migrate.tenants import tenants_by_site, write_tenants

    tenants = tenants_by_site(
        loaded.apps, ws.read_csv(folder / ws.PLAN_APPS, "plan"), names, set(app_ids) if app_ids else None, wave
    )
    tenants_file = write_tenants(tenants, folder)
    console.print(f"[green]✓[/] manifests for {len(written)} apps in {folder / ws.MANIFESTS}")
    count = sum(len(entries) for entries in tenants.values())
    console.print(f"[green]✓[/] {count} tenants they need, per site, in {tenants_file}")


@app.command()
def dataplan(
    out: Path = OUT,
    pod_mib_s: float = typer.Option(
        ..., "--pod-mibs", min=0.001, help="Copy throughput of one Job pod in MiB/s (measured: docs/benchmarks.md)."
    ),
    pods_per_site: int = typer.Option(64, "--pods-per-site", min=1, help="Copy pods a site runs at once."),
    site_gbit_s: float = typer.Option(10.0, "--site-gbits", min=0.001, help="Ingest bandwidth of a site, Gbit/s."),
    shard_gb: float = typer.Option(20.0, "--shard-gb", min=0.001, help="Shard size (copy --on-cluster --shard-bytes)."),
) -> None:
    """How long the data movement takes per wave and site, from plan.csv and the copy parameters."""
    from pdn.migrate import dataplan as stage

    folder = _out(out)
    params = stage.Parameters(pod_mib_s, pods_per_site, site_gbit_s, shard_gb)
    entries = stage.plan_rows(ws.read_csv(folder / ws.PLAN_APPS, "plan"), params)
    title = f"data movement: {pod_mib_s:g} MiB/s per pod, {pods_per_site} pods, {site_gbit_s:g} Gbit/s"
    table = Table("wave", "site", "apps", "TB", "shards", "pods", "MiB/s", "hours", "limited by", title=title)
    for entry in entries:
        table.add_row(str(entry.wave), entry.site, str(entry.apps), f"{entry.data_tb:.1f}", str(entry.shards),
                      str(entry.pods), f"{entry.mib_s:.0f}", f"{entry.hours:.1f}", entry.limited_by)  # fmt: skip
    console.print(table)
    hours = stage.wave_hours(entries)
    total_tb = sum(entry.data_tb for entry in entries)
    console.print(
        f"{total_tb:.1f} TB in {len(hours)} waves; slowest wave {max(hours.values(), default=0):.1f} h; "
        f"all waves back to back {sum(hours.values()):.1f} h of copying"
    )


@app.command()
def show(
    app_id: str = typer.Argument(..., metavar="APP", help="app_id from the inventory."),
    inventory: Path = INVENTORY,
    datacenters: Path = DATACENTERS,
    out: Path = OUT,
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
) -> None:
    """Everything decided about one application, stage by stage."""
    from pdn.migrate import trail

    folder = _out(out)
    loaded = _load(inventory, datacenters, folder)
    sections = trail.trail(trail.find(loaded.apps, app_id), folder)
    if as_json:
        console.print_json(json.dumps(sections, default=str))
        return
    for name, content in sections.items():
        if isinstance(content, dict):
            _summary(f"{app_id} · {name}", content)
        else:
            console.print(f"[bold]{app_id} · {name}[/]: {escape(str(content))}")


def _progress(what: str) -> StepProgress:
    return StepProgress(
        what,
        unit="bytes",
        columns=(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        ),
    )


def _site_id(site: str | None, app_id: str, out: Path) -> str:
    """``--site``, else the app's site in plan.csv."""
    if site is not None:
        return site
    plan_file = out / ws.PLAN_APPS
    row = (
        next((r for r in ws.read_csv(plan_file, "plan") if r["app_id"] == app_id), None)
        if plan_file.is_file()
        else None
    )
    if row is None:
        raise InputError(f"no site for {app_id}", hint="pass --site or run `pdn migrate plan` first")
    return row["site"]


def _endpoint(
    site: str | None, endpoint: str | None, credentials: Path | None, app_id: str, out: Path, anonymous: bool = False
) -> Any:
    from pdn.migrate.s3 import Credentials, Endpoint, credentials_from
    from pdn.sites import load_sites

    sites = load_sites()
    site = _site_id(site, app_id, out)
    try:
        model_site = sites.site(site)
    except KeyError as error:
        raise InputError(str(error).strip('"')) from None
    keys = Credentials("-", "-") if anonymous else credentials_from(credentials)
    url = endpoint or model_site.object_storage.endpoint
    return Endpoint(url, keys.access_key, keys.secret_key, model_site.object_storage.region, keys.session_token)


SITE = typer.Option(None, "--site", help="Target site [default: the app's site in plan.csv].")
ENDPOINT = typer.Option(None, "--endpoint", help="Target S3 URL [default: the site's object_storage.endpoint].")
CREDENTIALS = typer.Option(
    None,
    "--credentials",
    help="File with access_key=, secret_key= and, for temporary keys, session_token= lines (outside the repo); "
    "default: PDN_S3_ACCESS_KEY, PDN_S3_SECRET_KEY, PDN_S3_SESSION_TOKEN, else AWS_ACCESS_KEY_ID and so on.",
)
BUCKET = typer.Option(None, "--bucket", help="Target bucket [default: mig-<app>].")
PREFIX = typer.Option("", "--prefix", help="Key prefix inside the target bucket.")
WORKERS = typer.Option(16, "--workers", min=1, max=64, help="Objects in flight.")


def _source(source: str, source_endpoint: str | None, source_credentials: Path | None) -> Any:
    from pdn.migrate.s3 import Endpoint, client, credentials_from
    from pdn.migrate.sources import BucketSource, DirectorySource

    if source.startswith("s3://"):
        if not source_endpoint:
            raise InputError("an s3:// source needs --source-endpoint URL")
        keys = credentials_from(source_credentials, prefix="PDN_SOURCE_S3")
        return BucketSource(
            client(Endpoint(source_endpoint, keys.access_key, keys.secret_key, session_token=keys.session_token)),
            source,
        )
    return DirectorySource(Path(source))


@app.command("copy")
def copy_command(
    app_id: str = typer.Argument(..., metavar="APP"),
    source: str = typer.Option(..., "--source", help="Legacy store: a directory or s3://bucket/prefix."),
    source_endpoint: str = typer.Option(None, help="S3 URL of an s3:// source."),
    source_credentials: Path = typer.Option(
        None, help="Credentials file of the source store (default: PDN_SOURCE_S3_ACCESS_KEY/SECRET_KEY)."
    ),
    site: str = SITE,
    endpoint: str = ENDPOINT,
    credentials: Path = CREDENTIALS,
    bucket: str = BUCKET,
    prefix: str = PREFIX,
    workers: int = WORKERS,
    out: Path = OUT,
    dry_run: bool = typer.Option(False, "--dry-run", help="Only say what would be copied."),
    on_cluster: bool = typer.Option(
        False, "--on-cluster", help="Copy as an Indexed Job on the site's cluster (s3:// sources; docs/migration.md)."
    ),
    parallelism: int = typer.Option(4, "--parallelism", min=1, max=10_000, help="--on-cluster: pods at a time."),
    shard_size: int = typer.Option(1000, "--shard-size", min=1, help="--on-cluster: most objects per shard (pod)."),
    shard_bytes: str = typer.Option("20GB", "--shard-bytes", help="--on-cluster: most bytes per shard (e.g. 500MB)."),
    watch: bool = typer.Option(False, "--watch", help="--on-cluster: follow the Job until it completes or fails."),
    watch_timeout: float = typer.Option(24 * 3600, "--watch-timeout", min=1, help="--watch: give up after seconds."),
    image: str = typer.Option(
        None, "--image", help="--on-cluster: the worker image [default: localhost/pdn/migrate:lab, the lab's]."
    ),
    namespace: str = typer.Option("pdn-migrate", "--namespace", help="--on-cluster: namespace of the Job."),
    kubeconfig: Path = typer.Option(None, "--kubeconfig", help="--on-cluster: the site cluster [default: the lab's]."),
    pod_endpoint: str = typer.Option(None, "--pod-endpoint", help="--on-cluster: the target S3 URL as pods reach it."),
    pod_source_endpoint: str = typer.Option(
        None, "--pod-source-endpoint", help="--on-cluster: the source S3 URL as pods reach it."
    ),
) -> None:
    """Copy an app's data to its site's object store (parallel, multipart, SHA-256 ledger, resumable)."""
    from pdn.migrate import copy as stage
    from pdn.migrate.ledger import Ledger
    from pdn.migrate.s3 import friendly_errors
    from pdn.migrate.target import TargetStore

    folder = _out(out)
    if on_cluster:
        from pdn.migrate.jobcli import JobOptions, copy_on_cluster

        if not source.startswith("s3://"):
            raise InputError(
                f"--on-cluster copies from an s3://bucket/prefix source, not {source!r}: pods cannot read the "
                "operator's directories",
                hint="drop --on-cluster to copy a directory with the one-process copy",
            )
        site_id = _site_id(site, app_id, folder)
        target = _endpoint(site_id, endpoint, credentials, app_id, folder)
        options = JobOptions(
            parallelism, shard_size, _size(shard_bytes, "--shard-bytes"), watch, watch_timeout, image, namespace,
            kubeconfig, pod_endpoint, pod_source_endpoint, workers, dry_run,
        )  # fmt: skip
        copy_on_cluster(app_id, site_id, target, _source(source, source_endpoint, source_credentials), source,
                        source_endpoint, source_credentials, bucket, prefix, options)  # fmt: skip
        return
    try:
        target = _endpoint(site, endpoint, credentials, app_id, folder)
    except InputError as error:
        if not (dry_run and str(error) == "no S3 credentials"):
            raise
        target = _endpoint(site, endpoint, None, app_id, folder, anonymous=True)  # a dry run sends nothing
    from pdn.naming import bucket_name

    ledger_file = _ledger_path(folder, app_id)
    src = _source(source, source_endpoint, source_credentials)
    bucket = bucket or bucket_name(app_id)
    with (
        friendly_errors(f"copy {app_id}"),
        Ledger(ledger_file) as ledger,
        TargetStore(target) as store,
        _progress(f"copy {app_id} → {bucket}") as bar,
    ):
        report = stage.copy(
            store,
            src,
            bucket,
            prefix,
            ledger,
            workers,
            dry_run,
            progress=bar.advance,
            total=lambda n: bar.update(total=n),
        )
    verb = "would copy" if dry_run else "copied"
    if report.target_lost:
        console.print(f"[yellow]bucket {bucket} is gone from the target: the ledger's copies are void[/]")
    console.print(
        f"{verb} {report.copied} objects ({report.copied_bytes / 1e6:.1f} MB); "
        f"{report.skipped} already done; {report.listed} in the source"
        + (f"; aborted {report.aborted_uploads} stale multipart uploads" if report.aborted_uploads else "")
    )
    _say_not_copied(report.not_copied)


def _size(text: str, option: str) -> int:
    """``500MB``, ``20GB``, ``1TiB``, ``123`` (bytes) as a number of bytes."""
    import re

    units = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
             "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}  # fmt: skip
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", text)
    if not found or found.group(2).upper() not in units or float(found.group(1)) <= 0:
        raise InputError(f"{option} {text!r}: a size such as 500MB, 20GB or 1TiB")
    return max(1, int(float(found.group(1)) * units[found.group(2).upper()]))


def _say_not_copied(entries: list[tuple[str, str]]) -> None:
    """Source entries copy does not copy: each named, so that nobody takes the copy for complete."""
    if not entries:
        return
    console.print(f"[yellow]not copied[/]: {len(entries)} source entries that are not regular files:")
    for key, reason in entries[:10]:
        console.print(f"  {escape(key)}: {escape(reason)}", highlight=False)
    if len(entries) > 10:
        console.print(f"  ... and {len(entries) - 10} more (all in the ledger)")
    console.print("verify counts them as not verified: copy what they point at as a source of its own")


@app.command("verify")
def verify_command(
    app_id: str = typer.Argument(..., metavar="APP"),
    source: str = typer.Option(None, "--source", help="Also prove nothing in the source was left out."),
    source_endpoint: str = typer.Option(None),
    source_credentials: Path = typer.Option(None),
    site: str = SITE,
    endpoint: str = ENDPOINT,
    credentials: Path = CREDENTIALS,
    bucket: str = BUCKET,
    prefix: str = PREFIX,
    workers: int = WORKERS,
    out: Path = OUT,
    on_cluster: bool = typer.Option(
        False,
        "--on-cluster",
        help="Verify a copy made with --on-cluster: its shard ledgers are read from the site's ledger bucket "
        "and merged into copy/<app>.job.sqlite first.",
    ),
    as_job: bool = typer.Option(
        False, "--as-job", help="With --on-cluster: re-read the objects as an Indexed Job on the site's cluster."
    ),
    parallelism: int = typer.Option(4, "--parallelism", min=1, max=10_000, help="--as-job: pods at a time."),
    image: str = typer.Option(None, "--image", help="--as-job: the worker image [default: the lab's]."),
    namespace: str = typer.Option("pdn-migrate", "--namespace", help="--as-job: namespace of the Job."),
    kubeconfig: Path = typer.Option(None, "--kubeconfig", help="--as-job: the site cluster [default: the lab's]."),
    pod_endpoint: str = typer.Option(None, "--pod-endpoint", help="--as-job: the target S3 URL as pods reach it."),
    watch_timeout: float = typer.Option(24 * 3600, "--watch-timeout", min=1, help="--as-job: give up after seconds."),
) -> None:
    """Re-read every copied object from the target and compare its SHA-256 with the source's."""
    from pdn.errors import PdnError
    from pdn.migrate import verify as stage
    from pdn.migrate.ledger import Ledger
    from pdn.migrate.s3 import friendly_errors
    from pdn.migrate.target import TargetStore
    from pdn.naming import bucket_name

    folder = _out(out)
    ledger_file = _ledger_path(folder, app_id)
    if as_job:
        from pdn.migrate.jobcli import JobOptions, verify_on_cluster

        if not on_cluster:
            raise InputError("--as-job verifies a copy made with --on-cluster", hint="add --on-cluster")
        site_id = _site_id(site, app_id, folder)
        options = JobOptions(parallelism, 1, 1, True, watch_timeout, image, namespace, kubeconfig, pod_endpoint, None,
                             workers, False)  # fmt: skip
        found = verify_on_cluster(
            app_id, site_id, _endpoint(site_id, endpoint, credentials, app_id, folder), bucket, prefix, options,
            ledger_file.with_name(ledger_file.stem + ".job.sqlite"),
        )  # fmt: skip
        if found.mismatched or found.missing:
            raise PdnError(
                f"{len(found.mismatched)} objects differ, {len(found.missing)} not verified "
                f"(e.g. {(found.mismatched + found.missing)[0]})",
                hint="re-run `pdn migrate copy --on-cluster` for this app, then verify again",
            )
        console.print(f"[green]✓[/] all {found.ok} objects match (re-read by the Job's pods, SHA-256)")
        return
    if on_cluster:
        from pdn.migrate.jobcli import merge_job_ledger

        ledger_file = ledger_file.with_name(ledger_file.stem + ".job.sqlite")
        with (
            friendly_errors(f"verify {app_id}"),
            TargetStore(_endpoint(site, endpoint, credentials, app_id, folder)) as store,
        ):
            merge_job_ledger(store, bucket or bucket_name(app_id), prefix, ledger_file)
    if not ledger_file.is_file():
        raise InputError(f"no copy ledger for {app_id} in {folder}", hint="run `pdn migrate copy` first")
    target = _endpoint(site, endpoint, credentials, app_id, folder)
    src = _source(source, source_endpoint, source_credentials) if source else None
    with (
        friendly_errors(f"verify {app_id}"),
        Ledger(ledger_file) as ledger,
        TargetStore(target) as store,
        _progress(f"verify {app_id}") as bar,
    ):
        stored = ledger.meta()
        report = stage.verify(
            store,
            bucket or stored.get("bucket") or bucket_name(app_id),
            prefix or stored.get("prefix", ""),
            ledger,
            src,
            workers,
            progress=bar.advance,
            total=lambda n: bar.update(total=n),
        )
    if report.mismatched or report.missing:
        raise PdnError(
            f"{len(report.mismatched)} objects differ, {len(report.missing)} missing "
            f"(e.g. {(report.mismatched + report.missing)[0]})",
            hint="re-run `pdn migrate copy` for this app, then verify again",
        )
    if report.not_verified:
        raise PdnError(
            f"{report.ok} objects match, but {len(report.not_verified)} source entries were not copied and are "
            f"not verified (e.g. {report.not_verified[0]})",
            hint="symbolic links and special files are never followed: copy their targets as sources of their own",
        )
    console.print(f"[green]✓[/] all {report.ok} objects match ({report.bytes / 1e6:.1f} MB re-read, SHA-256)")
