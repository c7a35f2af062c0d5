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


def inventory_path() -> Path:
    """The Ansible inventory of every running lab node (grouped by site and role)."""
    return paths.lab_dir() / "inventory.yaml"


def _available() -> bool:
    return importlib.util.find_spec("pdn.nodes") is not None


def start_node_containers(site_id: str, count: int, *, real: bool = False) -> None:
    """Start ``count`` node containers for ``site_id`` and refresh the inventory.

    ``real``: the containers are real Kubernetes nodes of the site, joined with kubeadm
    (:mod:`pdn.lab.realnodes`); otherwise they are Debian hosts for the hardening tests only.
    """
    if not _available():
        raise ToolMissingError("--nodes needs pdn.nodes (Debian node containers), not in this checkout")
    from pdn import nodes

    if real:
        from pdn.lab.realnodes import start_site_nodes
        from pdn.sites import load_sites

        def say(site: str, message: str) -> None:
            console.print(f"[cyan]{site:<12}[/] {message}")

        joined = start_site_nodes(load_sites().site(site_id), count, say)
        ready = sum(node.ready for node in joined)
        summary = f"{ready}/{len(joined)} real node(s) Ready"
    else:
        summary = f"{len(nodes.start_nodes(site_id, count))} node container(s) up"
    path = nodes.write_inventory(inventory_path())
    console.print(f"[cyan]{site_id:<12}[/] {summary}; inventory {path}")


def stop_node_containers(site_id: str) -> None:
    """Remove the node containers of ``site_id`` (nothing to do without podman or pdn.nodes)."""
    if not _available() or shutil.which("podman") is None:
        return
    from pdn import nodes
    from pdn.lab import sitenet

    removed = nodes.stop_nodes(site_id)
    if removed:
        console.print(f"[cyan]{site_id:<12}[/] removed {len(removed)} node container(s)")
    if sitenet.remove_network(site_id):
        console.print(f"[cyan]{site_id:<12}[/] removed network {sitenet.network_name(site_id)}")
    if inventory_path().exists():
        nodes.write_inventory(inventory_path())
