"""``pdn stacks``: drive the four site stacks with the Automation API (file backend, no login)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from pdn.console import console
from pdn.errors import InputError, PdnError
from pdn.stacks import crds
from pdn.stacks.runner import Outcome, run
from pdn.stacks.workspace import Workspace, lab_workspace, onboard_lab_tenants, repo_workspace, stack_file, stack_sites

app = typer.Typer(help="Pulumi stacks of the four sites: up, preview, destroy (Automation API).", no_args_is_help=True)

SiteOpt = typer.Option(None, "--site", "-s", help="Site stack to act on (repeatable).")
AllOpt = typer.Option(False, "--all", help="Act on every site stack, in build order.")
LabOpt = typer.Option(False, "--lab", help="Target the local lab clusters and MinIO (pdn lab up).")
PolicyOpt = typer.Option(True, "--policy/--no-policy", help="Enforce the policy pack (infra/policy).")
BackendOpt = typer.Option(None, "--backend", help="Pulumi backend URL (default: $PULUMI_BACKEND_URL).")


def _sites(site: list[str] | None, all_sites: bool) -> list[str]:
    order = stack_sites()
    if all_sites:
        return order
    if not site:
        raise InputError("name a site with --site SITE or use --all", hint=f"sites: {', '.join(order)}")
    unknown = [s for s in site if s not in order]
    if unknown:
        raise InputError(f"unknown site {', '.join(unknown)}", hint=f"sites: {', '.join(order)}")
    missing = [s for s in site if not stack_file(s).is_file()]
    if missing:
        raise InputError(f"no stack file for {', '.join(missing)}", hint="add stacks/Pulumi.<site>.yaml")
    return site


def _workspace(sites: list[str], lab: bool, backend: str | None) -> Workspace:
    if lab:
        return lab_workspace(sites, crds.fetch())
    return repo_workspace(backend)


def _report(outcomes: list[Outcome]) -> None:
    table = Table(title="pdn stacks")
    for column in ("site", "action", "seconds", "changes"):
        table.add_column(column)
    for o in outcomes:
        table.add_row(
            o.site, o.action, f"{o.seconds:.1f}", ", ".join(f"{n} {op}" for op, n in sorted(o.changes.items())) or "-"
        )
    console.print(table)


@app.command()
def up(
    site: list[str] | None = SiteOpt,
    all_sites: bool = AllOpt,
    lab: bool = LabOpt,
    policy: bool = PolicyOpt,
    backend: str | None = BackendOpt,
    tenants: Path | None = typer.Option(
        None,
        "--tenants",
        help="Lab only: onboard these tenants too (site -> list, as written by `pdn migrate render`); "
        "they stay onboarded in the lab until `pdn lab down --purge`.",
    ),
) -> None:
    """Create or update the stacks (idempotent: a second run changes nothing)."""
    sites = _sites(site, all_sites)
    if tenants is not None:
        if not lab:
            raise InputError(
                "--tenants only works with --lab", hint="for real sites, add the tenants to stacks/Pulumi.<site>.yaml"
            )
        onboard_lab_tenants(tenants)
    _report(run(_workspace(sites, lab, backend), sites, "up", policy=policy))
    if lab:
        _first_backups_where_velero_runs(sites)


def _first_backups_where_velero_runs(sites: list[str]) -> None:
    """A tenant just added to a Schedule of a running lab Velero server is backed up now, not at the
    next cron time (up to an hour for the vital tier); a server started later does it at its start."""
    from pdn.backup import firstbackup, velero

    for site_id in sites:
        if not velero.is_running(site_id):
            continue
        try:
            firstbackup.take_first_backups(site_id, console.print)
        except PdnError as error:  # the stack is up; the backup is owed, not the stack
            console.print(f"[yellow]warning:[/] {error}; `pdn backup server up --site {site_id}` takes it later")


@app.command()
def preview(
    site: list[str] | None = SiteOpt,
    all_sites: bool = AllOpt,
    lab: bool = LabOpt,
    policy: bool = PolicyOpt,
    backend: str | None = BackendOpt,
    check: bool = typer.Option(False, "--check", help="Exit 1 when any stack would change."),
) -> None:
    """Show what ``up`` would change (the dry run of ``up``)."""
    sites = _sites(site, all_sites)
    outcomes = run(_workspace(sites, lab, backend), sites, "preview", policy=policy)
    _report(outcomes)
    if check and any(o.changed for o in outcomes):
        raise typer.Exit(1)


@app.command()
def destroy(
    site: list[str] | None = SiteOpt,
    all_sites: bool = AllOpt,
    lab: bool = LabOpt,
    backend: str | None = BackendOpt,
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
) -> None:
    """Delete every resource of the stacks (buckets holding backups are refused outside the lab)."""
    sites = _sites(site, all_sites)
    if not yes and not lab and not typer.confirm(f"destroy stacks {', '.join(sites)}?"):
        raise typer.Exit(1)
    _report(run(_workspace(sites, lab, backend), sites, "destroy"))


@app.command("crds")
def crds_command() -> None:
    """Fetch the pinned Cluster API and Velero CRDs from their Go modules into the cache."""
    root = crds.fetch()
    found = crds.needed_crds(root)
    console.print(f"{len(found)} CRDs ready under {root}")
