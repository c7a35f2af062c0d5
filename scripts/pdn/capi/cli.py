"""``pdn lab capi``: the lab's Cluster API management plane (docs/capi.md)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from pdn.console import console
from pdn.errors import PdnError
from pdn.lab import layout

app = typer.Typer(
    help="Cluster API in the lab: the managers that reconcile a site stack's Cluster into machines.",
    no_args_is_help=True,
)

SiteOption = typer.Option(
    None, "--site", "-s", help="The management cluster's site (default: the one in use, else the first site)."
)


def _site(site: str | None) -> str:
    from pdn.capi.state import management_site

    return site or management_site() or layout.site_ids()[0]


def _say(what: str, message: str) -> None:
    console.print(f"[cyan]{what:<22}[/] {message}")


@app.command("up")
def up_command(
    site: str | None = SiteOption,
    workload: str | None = typer.Option(
        None, "--for", help="The site whose Cluster they reconcile (default: the one in use, else the last site)."
    ),
) -> None:
    """Start (or repair) the managers on a lab site's cluster; a second run changes nothing.

    They reconcile one other site's Cluster, watching only its namespace; from then on
    `pdn stacks up --lab --site SITE` for that site makes its cluster through them (docs/capi.md).
    Needs `pdn lab up` with real nodes for the management site (the managers sit on its network)
    and the Cluster API units of the toolchain (`pdn toolchain build --all`)."""
    from pdn.capi.management import up
    from pdn.capi.state import workload_site

    target = workload or workload_site() or layout.site_ids()[-1]
    addresses = up(_site(site), target, report=_say)
    console.print(f"[green]capi up[/]: {len(addresses)} managers on {_site(site)}, reconciling {target}")


@app.command("status")
def status_command(site: str | None = SiteOption) -> None:
    """Each manager's container and readiness, and the podman API service and proxy."""
    from pdn.capi.management import status

    states = status(_site(site))
    table = Table("part", "state", title=f"Cluster API management plane on {_site(site)}")
    for name, state in states.items():
        colour = "green" if state in ("ready", "running") else "yellow"
        table.add_row(name, f"[{colour}]{state}[/]")
    console.print(table)
    if any(state not in ("ready", "running") for state in states.values()):
        raise PdnError("the management plane is not fully up", hint="pdn lab capi up")


@app.command("down")
def down_command(site: str | None = SiteOption) -> None:
    """Remove the managers, their webhooks and the podman API service (CRDs and objects stay)."""
    from pdn.capi.management import down

    down(_site(site), report=_say)
    console.print("[green]capi down[/]")


@app.command("inventory")
def inventory_command(
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Where to write (default: .lab/capi/machines-inventory.yml)."
    ),
) -> None:
    """Write an Ansible inventory of the machines Cluster API made (by site and Kubernetes role),
    each reachable over SSH on 127.0.0.1 with its host key pinned; harden them with
    `pdn harden --inventory PATH`. Re-run it after the machines change (scaling, rollout)."""
    from pdn.capi.machines import write_inventory
    from pdn.capi.state import capi_dir

    path, nodes = write_inventory(out or capi_dir() / "machines-inventory.yml")
    for node in nodes:
        _say(node.name, f"{node.role}, ssh 127.0.0.1:{node.port}")
    console.print(f"[green]inventory[/] of {len(nodes)} machine(s): {path}\nnext: pdn harden --inventory {path}")
