"""``pdn lab up --nodes N`` / ``lab down``: the Debian node containers, through pdn.nodes.

The containers, their image and the Ansible inventory belong to :mod:`pdn.nodes`; the lab only
asks for them and writes the inventory next to its other state.
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


def start_node_containers(site_id: str, count: int) -> None:
    """Start ``count`` node containers for ``site_id`` and refresh the inventory."""
    if not _available():
        raise ToolMissingError("--nodes needs pdn.nodes (Debian node containers), not in this checkout")
    from pdn import nodes

    started = nodes.start_nodes(site_id, count)
    path = nodes.write_inventory(inventory_path())
    console.print(f"[cyan]{site_id:<12}[/] {len(started)} node container(s) up; inventory {path}")


def stop_node_containers(site_id: str) -> None:
    """Remove the node containers of ``site_id`` (nothing to do without podman or pdn.nodes)."""
    if not _available() or shutil.which("podman") is None:
        return
    from pdn import nodes

    removed = nodes.stop_nodes(site_id)
    if removed:
        console.print(f"[cyan]{site_id:<12}[/] removed {len(removed)} node container(s)")
    if inventory_path().exists():
        nodes.write_inventory(inventory_path())
