"""Debian 12 node containers (systemd + sshd under podman) for the hardening tests and the lab."""

from pdn.nodes.image import ensure_image
from pdn.nodes.inventory import write_inventory
from pdn.nodes.runtime import (
    Node,
    list_nodes,
    pause_real_nodes,
    real_nodes,
    resume_real_nodes,
    start_nodes,
    stop_nodes,
)

__all__ = [
    "Node",
    "ensure_image",
    "list_nodes",
    "pause_real_nodes",
    "real_nodes",
    "resume_real_nodes",
    "start_nodes",
    "stop_nodes",
    "write_inventory",
]
