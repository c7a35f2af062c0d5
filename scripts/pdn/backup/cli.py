"""``pdn backup``: status of the cross-region backups, the disaster-recovery drill, the lab's Velero servers."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from pdn import paths
from pdn.backup import status as status_mod
from pdn.backup import velero
from pdn.backup.report import kept_text
from pdn.console import console
from pdn.errors import InputError, PdnError
from pdn.lab import layout

app = typer.Typer(help="Cross-region backups: status, restore drill, Velero servers of the lab.", no_args_is_help=True)
server_app = typer.Typer(help="The lab's Velero servers (one local process per site).", no_args_is_help=True)
app.add_typer(server_app, name="server")


def _sites(sites: list[str] | None) -> list[str]:
    known = layout.site_ids()
    for site in sites or []:
        layout.site_index(site)  # unknown -> InputError
    return [site for site in known if not sites or site in sites]


@app.command("status")
def status_command(
    sites: list[str] = typer.Option(None, "--site", "-s", help="Only these sites (default: all)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    no_bytes: bool = typer.Option(False, "--no-bytes", help="Skip listing the partner buckets."),
) -> None:
    """Per site and location: newest completed backup, its age (current RPO), bytes in the partner bucket, failures."""
    rows = status_mod.gather(_sites(sites), with_bytes=not no_bytes)
    if as_json:
        print(json.dumps(status_mod.as_json(rows), indent=2))
        return
    table = Table(title="cross-region backups")
    for column in ("site", "location", "mode", "store", "phase", "velero", "last good backup", "RPO", "ok/failed"):
        table.add_column(column)
    table.add_column("bucket bytes", justify="right")
    table.add_column("problems")
    for row in rows:
        table.add_row(
            row.site,
            row.location,
            row.mode,
            f"{row.store_site}/{row.bucket}",
            row.phase,
            row.velero,
            row.last_backup or "-",
            status_mod.human_age(row.rpo_seconds),
            f"{row.backups_completed}/{row.backups_failed}",
            status_mod.human_bytes(row.bucket_bytes),
            "; ".join(row.errors) or "",
        )
    console.print(table)


@app.command("drill")
def drill_command(
    source: str = typer.Option(None, "--from", help="Site to back up (or give --site-loss)."),
    lost: str = typer.Option(
        None,
        "--site-loss",
        help="Site-loss drill: back up this site's vital tenants, stop the site entirely (API server, object store, "
        "nodes, Velero), recover them on the partner from its copies only, bring the site back and check nothing "
        "was lost on either side.",
    ),
    partner: str = typer.Option(None, "--to", help="Partner site to restore on (default: the first partner)."),
    tenant: str = typer.Option(
        None, "--tenant", help="Only this tenant (name or tenant-<slug> namespace); default: every tenant namespace."
    ),
    seed_count: int = typer.Option(
        0, "--seed", min=0, help="Seed N representative objects first (into a drill namespace, or into --tenant)."
    ),
    apps: int = typer.Option(
        0,
        "--apps",
        min=0,
        max=200,
        help="Also run N apps with a volume of files each (needs real nodes on both sites); the drill waits until "
        "they answer on the partner and compares their answers and every file's SHA-256.",
    ),
    files: int = typer.Option(300, "--files", min=1, max=100_000, help="Files per app volume."),
    volume_mb: float = typer.Option(10.0, "--volume-mb", min=0.001, max=65536, help="MB of data per app volume."),
    keep: bool = typer.Option(False, "--keep", help="Keep the drill namespaces, seeded objects and Restore."),
    report_dir: Path = typer.Option(
        None, "--report-dir", help="Where drill.md, drill.html, timeline.png, drill.json go (default out/backup/…)."
    ),
    no_immutability: bool = typer.Option(
        False, "--skip-immutability", help="Do not try to delete/overwrite the archive in the partner bucket."
    ),
) -> None:
    """Back up SOURCE to its partner's bucket, restore it on the partner, compare, prove immutability, report.

    On sites with real nodes the backup holds every pod volume (Velero's node agent, Kopia) and the
    restore brings the apps back running: the drill waits until each answers on the partner. RPO is
    the age of the newest backup at drill time, RTO the restore until the last app answers, both
    against the tier's targets in the site model (policy.recovery).

    Exits 1 when any object is missing or different, an app does not answer the same, a target is
    missed, or the backup could be deleted or changed.
    """
    from pdn.backup.drill import run
    from pdn.backup.drill_plan import DrillOptions

    if bool(source) == bool(lost):
        raise InputError("give exactly one of --from SITE and --site-loss SITE")
    if lost and tenant:
        raise InputError("--site-loss recovers the site's vital tenants; --tenant does not apply")
    source = source or lost
    folder = report_dir or paths.out_dir() / "backup" / (f"site-loss-{source}" if lost else f"drill-{source}")
    result = run(
        DrillOptions(
            source=source,
            partner=partner,
            tenant=tenant,
            seed=seed_count,
            keep=keep,
            report_dir=folder,
            immutability=not no_immutability,
            apps=apps,
            files=files,
            volume_bytes=max(files, int(volume_mb * 1_000_000)),
            site_loss=bool(lost),
        )
    )
    comparison = result.comparison
    verdict = "[green]PASS[/]" if result.passed else "[red]FAIL[/]"
    rpo = f"{result.rpo_seconds:.1f} s" if result.rpo_seconds is not None else "-"
    console.print(
        f"{verdict} {result.source} → {result.partner}: {comparison.equal}/{comparison.compared} objects equal, "
        f"{len(comparison.missing)} missing, {len(comparison.differences)} differences; "
        f"RPO {rpo}, RTO {result.rto_seconds:.1f} s; report {folder / 'drill.html'}"
    )
    if result.site_loss:
        console.print(f"  {result.source} after its return: {kept_text(result.site_returned)}; "
                      f"{result.partner}'s own tenants: {kept_text(result.partner_unchanged)}")  # fmt: skip
    if result.source_answers:
        console.print(f"  apps answering equal on {result.partner}: {result.apps_equal}/{len(result.source_answers)}")
    for check, outcome in result.immutability.items():
        console.print(f"  immutability: {check}: {outcome}")
    for line in [*result.app_problems, *result.target_failures]:
        console.print(f"  [red]{line}[/]")
    if not result.passed:
        raise PdnError(f"drill {result.source} → {result.partner} failed", hint=f"see {folder / 'drill.md'}")


@server_app.command("up")
def server_up(sites: list[str] = typer.Option(None, "--site", "-s", help="Only these sites (default: all).")) -> None:
    """Start the Velero server of each site (kept when it already runs)."""
    velero.ensure_servers(_sites(sites), console.print)
    for site in _sites(sites):
        console.print(f"{site}: velero running, metrics http://127.0.0.1:{velero.metrics_port(site)}/metrics")


@server_app.command("down")
def server_down(sites: list[str] = typer.Option(None, "--site", "-s", help="Only these sites (default: all).")) -> None:
    """Stop the Velero server of each site."""
    for site in _sites(sites):
        console.print(f"{site}: {'stopped' if velero.stop_server(site) else 'not running'}")
