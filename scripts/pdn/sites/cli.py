"""``pdn sites``: inspect and check the national site model."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table
from rich.tree import Tree

from pdn import paths
from pdn.console import console
from pdn.errors import InputError, PdnError
from pdn.sites.loader import load_sites
from pdn.sites.mapping import draw_map
from pdn.sites.model import Site, SiteModel
from pdn.sites.rules import RULES, check
from pdn.sites.vocabulary import Tier

app = typer.Typer(help="The national site model (stacks/sites.yaml): list, show, check, map.", no_args_is_help=True)

FileOption = typer.Option(
    None,
    "--file",
    "-f",
    help="Site model to read (default: stacks/sites.yaml or $PDN_SITES).",
    dir_okay=False,
)


def _model(file: Path | None) -> SiteModel:
    return load_sites(file)


def _site(model: SiteModel, site_id: str) -> Site:
    try:
        return model.site(site_id)
    except KeyError as error:
        raise InputError(str(error.args[0])) from None


@app.command("list")
def list_sites(file: Path | None = FileOption, as_json: bool = typer.Option(False, "--json")) -> None:
    """One line per site: where it is, its power, cluster shape and backup partners."""
    model = _model(file)
    if as_json:
        console.print_json(json.dumps([site.model_dump(mode="json") for site in model.sites]))
        return
    table = Table(title="Pusat Data Nasional sites")
    for column in (
        "#",
        "site",
        "name",
        "province / island",
        "lat, lon",
        "power",
        "k8s",
        "nodes",
        "backs up to",
    ):
        table.add_column(column)
    for site in sorted(model.sites, key=lambda s: s.order):
        k8s = site.kubernetes
        workers = sum(pool.replicas for pool in k8s.worker_pools)
        table.add_row(
            str(site.order),
            site.id,
            site.name,
            f"{site.province} / {site.island}",
            f"{site.coordinates.lat:.2f}, {site.coordinates.lon:.2f}{'*' if site.coordinates.estimate else ''}",
            f"{site.power.capacity_mw:g} MW{'*' if site.power.estimate else ''}",
            k8s.version,
            f"{k8s.control_plane.replicas} cp + {workers} workers",
            ", ".join(
                p.site + ("" if set(p.tiers) >= set(Tier) else f" ({'/'.join(p.tiers)})") for p in site.backup.partners
            ),
        )
    console.print(table)
    console.print("[dim]* estimate[/]")


@app.command("show")
def show_site(
    site_id: str = typer.Argument(..., help="Site id, e.g. cikarang."),
    file: Path | None = FileOption,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Everything the model says about one site."""
    site = _site(_model(file), site_id)
    if as_json:
        console.print_json(site.model_dump_json())
        return
    tree = Tree(f"[bold]{site.name}[/] ([cyan]{site.id}[/]) — {site.province}, {site.island}")
    where = tree.add("location")
    where.add(
        f"lat {site.coordinates.lat}, lon {site.coordinates.lon}" + (" (estimate)" if site.coordinates.estimate else "")
    )
    if site.coordinates.source:
        where.add(f"source: {site.coordinates.source}")
    tree.add(f"power: {site.power.capacity_mw:g} MW" + (" (estimate)" if site.power.estimate else ""))
    risk = tree.add(f"risk: seismic {site.risk.seismic}, volcanic {site.risk.volcanic}")
    risk.add(site.risk.notes)
    fibre = tree.add("fibre")
    for link in site.fibre:
        fibre.add(f"→ {link.to}: {link.system} ({link.kind}{', estimate' if link.estimate else ''})")
    domains = tree.add("failure domains")
    for domain in site.failure_domains:
        domains.add(f"{domain.id} (zone {domain.zone}) {domain.description}".rstrip())
    k8s = tree.add(
        f"kubernetes {site.kubernetes.version}, {site.kubernetes.control_plane.replicas} control-plane nodes"
    )
    for pool in site.kubernetes.worker_pools:
        k8s.add(f"pool {pool.name}: {pool.replicas} × {pool.cpu} vCPU / {pool.memory_gib} GiB in {pool.failure_domain}")
    tree.add(f"object storage: {site.object_storage.endpoint} ({site.object_storage.region})")
    backup = tree.add(f"backup: sends {site.backup.volume_tb:g} TB, can receive {site.backup.capacity_tb:g} TB")
    for partner in site.backup.partners:
        backup.add(f"→ {partner.site}: tiers {', '.join(partner.tiers)}, {site.volume_to(partner):g} TB")
    console.print(tree)


@app.command("check")
def check_sites(file: Path | None = FileOption) -> None:
    """Validate the model and its backup-topology rules; exit 1 naming each site and rule broken."""
    model = _model(file)
    violations = check(model)
    if violations:
        for violation in violations:
            console.print(f"[red]✗[/] {violation}", highlight=False, soft_wrap=True)
        raise PdnError(f"{len(violations)} backup-topology rule violation(s) in {file or paths.sites_file()}")
    for rule in RULES:
        console.print(f"[green]✓[/] {rule}", highlight=False)
    console.print(f"[green]ok[/]: {len(model.sites)} sites, {len(RULES)} rules hold")


@app.command("map")
def map_sites(
    file: Path | None = FileOption,
    out: Path = typer.Option(
        None,
        "--out",
        "-o",
        help="Folder for sites-map.png and sites-map.svg (default: docs/img).",
        file_okay=False,
    ),
) -> None:
    """Draw the sites, islands and backup links as PNG and SVG."""
    files = draw_map(_model(file), out or paths.repo_root() / "docs" / "img")
    console.print(f"wrote {files.png} and {files.svg}")
