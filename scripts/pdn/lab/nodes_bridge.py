"""``pdn lab up --nodes N`` / ``lab down``: the Debian node containers, through pdn.nodes.

The containers, their image and the Ansible inventory belong to :mod:`pdn.nodes`; the lab asks
for them (as real Kubernetes nodes of the site with ``--real-nodes``: :mod:`pdn.lab.realnodes`
joins them with kubeadm) and writes the inventory next to its other state.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from pdn import paths
from pdn.console import console
from pdn.errors import ToolMissingError
from pdn.progress import StepProgress


def inventory_path() -> Path:
    """The Ansible inventory of every running lab node (grouped by site and role)."""
    return paths.lab_dir() / "inventory.yaml"


def _available() -> bool:
    return importlib.util.find_spec("pdn.nodes") is not None


def start_node_containers(site_id: str, count: int, *, real: bool = False) -> None:
    """Start ``count`` node containers for ``site_id`` and refresh the inventory.

    ``real``: the containers are real Kubernetes nodes of the site, joined with kubeadm
    (:func:`start_real_nodes`); otherwise they are Debian hosts for the hardening tests only.
    """
    if real:
        start_real_nodes([site_id], count)
        return
    if not _available():
        raise ToolMissingError("--nodes needs pdn.nodes (Debian node containers), not in this checkout")
    from pdn import nodes

    started = nodes.start_nodes(site_id, count)
    path = nodes.write_inventory(inventory_path())
    console.print(f"[cyan]{site_id:<12}[/] {len(started)} node container(s) up; inventory {path}")


def start_real_nodes(site_ids: list[str], count: int) -> None:
    """``count`` real Kubernetes nodes for each of ``site_ids``, sites side by side.

    The containers start site by site (podman and the shared images first), then every site's
    joins and Ready waits run at the same time: they mostly wait on kubelets, so four sites take
    about as long as the slowest one, which is what makes a warm restart of the whole lab quick.
    """
    if not _available():
        raise ToolMissingError("--real-nodes needs pdn.nodes (Debian node containers), not in this checkout")
    from concurrent.futures import ThreadPoolExecutor

    from pdn import nodes
    from pdn.lab.hostlimits import check_room_for_nodes
    from pdn.lab.realnodes import JoinedNode, join_site_nodes, launch_site_nodes
    from pdn.nodes.runtime import Node, node_name
    from pdn.sites import Site, load_sites

    def say(site: str, message: str) -> None:
        console.print(f"[cyan]{site:<12}[/] {message}")

    running = {node.name for node in nodes.list_nodes() if node.state == "running"}
    wanted = {node_name(site_id, index) for site_id in site_ids for index in range(1, count + 1)}
    check_room_for_nodes(len(wanted - running))
    model = load_sites()
    launched = [(model.site(site_id), launch_site_nodes(model.site(site_id), count, say)) for site_id in site_ids]
    with (
        StepProgress(f"joining the real nodes of {len(launched)} site(s)", total=len(launched), unit="sites",
                     key=f"real nodes join {len(launched)}x{count}") as step,
        ThreadPoolExecutor(max_workers=max(1, len(launched))) as pool,
    ):  # fmt: skip

        def join_one(pair: tuple[Site, list[Node]]) -> list[JoinedNode]:
            states = join_site_nodes(pair[0], pair[1], say)
            step.advance()
            return states

        joined = list(pool.map(join_one, launched))
    path = nodes.write_inventory(inventory_path())
    for (site, _), states in zip(launched, joined, strict=True):
        ready = sum(state.ready for state in states)
        console.print(f"[cyan]{site.id:<12}[/] {ready}/{len(states)} real node(s) Ready; inventory {path}")


def resume_node_containers(site_ids: list[str]) -> None:
    """Boot the real nodes ``lab down`` stopped (no waiting: :func:`start_real_nodes` waits)."""
    if not _available() or shutil.which("podman") is None:
        return
    from pdn import nodes

    resumed = nodes.resume_real_nodes(site_ids)
    if resumed:
        console.print(f"restarting {len(resumed)} real node(s) while the control planes start")


def pause_node_containers(site_ids: list[str]) -> None:
    """Stop the running real nodes of ``site_ids`` (kept for the next ``lab up``), all at once."""
    if not _available() or shutil.which("podman") is None:
        return
    from pdn import nodes

    stopped = nodes.pause_real_nodes(site_ids)
    if stopped:
        console.print(f"stopped {len(stopped)} real node(s) of {', '.join(site_ids)}; `lab up` restarts them")


def stop_node_containers(site_id: str, *, keep_real: bool = False) -> None:
    """Remove the node containers of ``site_id`` (nothing to do without podman or pdn.nodes).

    ``keep_real``: real Kubernetes nodes are only stopped, with their containerd volumes and the
    site network kept, so that the next ``pdn lab up`` restarts them (they are still members of the
    site's cluster, whose state ``lab down`` keeps) instead of creating and joining new ones.
    """
    if not _available() or shutil.which("podman") is None:
        return
    from pdn import nodes
    from pdn.lab import sitenet

    real = nodes.real_nodes([site_id])
    if keep_real and real:
        pause_node_containers([site_id])
        return
    removed = nodes.stop_nodes(site_id)
    if removed:
        console.print(f"[cyan]{site_id:<12}[/] removed {len(removed)} node container(s)")
    if real:  # the bridges into the site network served these nodes only
        from pdn.lab.processes import stop
        from pdn.lab.realnodes import forget_nodes

        forget_nodes(site_id, [node.name for node in real])

        for node in real:
            stop(sitenet.ssh_bridge_spec(site_id, node.name, node.port, node.address))
        for bridge in sitenet.gateway_bridges(site_id):
            stop(bridge)
    if sitenet.remove_network(site_id):
        console.print(f"[cyan]{site_id:<12}[/] removed network {sitenet.network_name(site_id)}")
    if inventory_path().exists():
        nodes.write_inventory(inventory_path())
