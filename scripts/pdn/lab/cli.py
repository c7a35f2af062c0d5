"""``pdn lab``: the local sovereign lab (Kubernetes control planes, kwok nodes, MinIO per site)."""

from __future__ import annotations

import shlex
import shutil
import time

import typer
from rich.table import Table

from pdn.capi.cli import app as capi_app
from pdn.console import console
from pdn.errors import InputError, PdnError
from pdn.lab import endpoints, layout, runtime
from pdn.lab.nodes_bridge import (
    pause_node_containers,
    resume_node_containers,
    start_node_containers,
    start_real_nodes,
    stop_node_containers,
)

app = typer.Typer(
    help="The local lab: one Kubernetes control plane, kwok nodes and MinIO per site.", no_args_is_help=True
)

SiteOption = typer.Option(None, "--site", "-s", help="Site id (repeatable; default: every site in the model).")


def _say(site: str, message: str) -> None:
    console.print(f"[cyan]{site:<12}[/] {message}")


def _runtime_check(value: str) -> str:
    if value not in ("process", "kind"):
        raise InputError(f"unknown runtime {value!r}: use 'process' (default) or 'kind'")
    return value


@app.command("up")
def up_command(
    site: list[str] = SiteOption,
    nodes: int = typer.Option(0, "--nodes", min=0, help="Also start N Debian 12 node containers per site."),
    real_nodes: int = typer.Option(
        0,
        "--real-nodes",
        min=0,
        help="Also start N real Kubernetes nodes per site (node containers joined with kubeadm).",
    ),
    runtime_name: str = typer.Option("process", "--runtime", help="process (default) or kind."),
) -> None:
    """Start (or repair) the lab; a second run changes nothing."""
    if _runtime_check(runtime_name) == "kind":
        from pdn.lab import kind

        kind.up(site or ())
        return
    began = time.monotonic()
    if real_nodes:  # nodes that `lab down` only stopped boot while the control planes start
        resume_node_containers(site or layout.site_ids())
    with console.status("starting the lab…"):
        results = runtime.up(site or (), report=_say)
    started = sum(len(result.started) for result in results)
    console.print(
        f"[green]lab up[/]: {len(results)} site(s), {started} process(es) started, "
        f"{sum(len(result.kept) for result in results)} already running, {time.monotonic() - began:.1f} s"
    )
    if nodes and real_nodes:
        raise InputError("--nodes and --real-nodes start the same node containers: give one of them")
    if real_nodes:
        start_real_nodes([result.site for result in results], real_nodes)
    for result in results if nodes else []:
        start_node_containers(result.site, nodes)


@app.command("down")
def down_command(
    site: list[str] = SiteOption,
    purge: bool = typer.Option(False, "--purge", help="Also delete the sites' state (etcd, MinIO, certificates)."),
    runtime_name: str = typer.Option("process", "--runtime", help="process (default) or kind."),
) -> None:
    """Stop the lab's processes and node containers; ``--purge`` removes the state and the nodes too.

    Without ``--purge`` real Kubernetes nodes are only stopped: the next ``pdn lab up`` restarts
    them as members of the kept cluster, which is much faster than creating and joining new ones."""
    if _runtime_check(runtime_name) == "kind":
        from pdn.lab import kind

        kind.down(site or ())
        return
    _capi_down(purge)
    if not purge:  # every site's real nodes stop side by side, not one site after another
        pause_node_containers(site or layout.site_ids())
    for site_id in site or layout.site_ids():
        stop_node_containers(site_id, keep_real=not purge)
    stopped = runtime.down(site or (), purge=purge, report=_say)
    total = sum(len(names) for names in stopped.values())
    console.print(f"[green]lab down[/]: {total} process(es) stopped" + (", state purged" if purge else ""))


@app.command("status")
def status_command(site: list[str] = SiteOption) -> None:
    """Health of every component, with pid, port, memory and uptime."""
    rows = runtime.status(site or ())
    table = Table(title="pdn lab status")
    for column in ("site", "component", "state", "pid", "port", "memory", "uptime"):
        table.add_column(column, justify="right" if column in ("pid", "port", "memory", "uptime") else "left")
    colours = {"healthy": "green", "unhealthy": "yellow", "stopped": "dim", "dead (stale pid)": "red"}
    per_site: dict[str, int] = {}
    for row in rows:
        per_site[row.site] = per_site.get(row.site, 0) + row.rss
        table.add_row(
            row.site,
            row.name,
            f"[{colours[row.state]}]{row.state}[/]",
            str(row.pid or "-"),
            str(row.port),
            f"{row.rss / 2**20:.0f} MiB" if row.rss else "-",
            f"{row.uptime:.0f} s" if row.uptime is not None else "-",
        )
    console.print(table)
    console.print("memory per site: " + ", ".join(f"{name} {rss / 2**20:.0f} MiB" for name, rss in per_site.items()))
    _print_real_nodes(
        site or layout.site_ids(), {row.site for row in rows if row.name == "kube-apiserver" and row.healthy}
    )
    _print_security(site or layout.site_ids())
    if any(row.state in ("unhealthy", "dead (stale pid)") for row in rows):
        raise PdnError("some lab components are not healthy", hint="pdn lab up (repairs what is down)")


def _print_security(site_ids: list[str]) -> None:
    """How each site's etcd and state are protected, as probed just now."""
    from pdn.lab.components import etcd_security

    facts = {site_id: etcd_security(site_id) for site_id in site_ids}
    columns = ["site", *dict.fromkeys(key for entry in facts.values() for key in entry)]
    table = Table(*columns, title="etcd and state")
    for site_id, entry in facts.items():
        table.add_row(site_id, *(entry.get(column, "-") for column in columns[1:]))
    console.print(table)


def _print_real_nodes(site_ids: list[str], serving: set[str]) -> None:
    """Each real node's kubelet, runtime and readiness, as its site's API server reports them."""
    if shutil.which("podman") is None:
        return
    from pdn.nodes.runtime import real_nodes

    table = Table(title="real nodes")
    for column in ("site", "node", "address", "kubelet", "runtime", "ready"):
        table.add_column(column)
    shown = 0
    for site_id in site_ids:
        containers = real_nodes([site_id])
        if not containers:
            continue
        states = {}
        if site_id in serving:
            from pdn.lab.kube_addons import node_states
            from pdn.sites import load_sites

            states = {state.name: state for state in node_states(load_sites().site(site_id))}
        for container in containers:
            state = states.get(container.name)
            ready = (
                "[green]Ready[/]"
                if state and state.ready
                else "[yellow]not Ready[/]"
                if state
                else "[red]not joined[/]"
            )
            shown_state = ready if container.state == "running" else f"[dim]{container.state}[/]"
            kubelet, runtime_version = (state.kubelet, state.runtime) if state else ("-", "-")
            table.add_row(site_id, container.name, container.address, kubelet, runtime_version, shown_state)
            shown += 1
    if shown:
        console.print(table)


@app.command("env")
def env_command(site_id: str = typer.Argument(..., help="Site id.")) -> None:
    """Print the shell exports for one site: eval "$(pdn lab env cikarang)"."""
    values = {**endpoints.site_env(site_id), **endpoints.pulumi_env()}
    for key, value in values.items():
        print(f"export {key}={shlex.quote(value)}")


def _capi_down(purge: bool) -> None:
    """The Cluster API managers go before the cluster they run on; with --purge, the machines
    Cluster API made go too, whether or not the managers are still set up."""
    from pdn.capi.management import down, remove_machines
    from pdn.capi.state import management_site

    site_id = management_site()
    if site_id is not None:
        down(site_id, report=_say, purge=purge)
    elif purge:
        remove_machines(report=_say)


app.add_typer(capi_app, name="capi")
