"""The machines Cluster API made for the workload site, as an Ansible inventory for ``pdn harden``.

A machine is a container of our real-node image on the internal ``kind`` network, so it is reached
as the lab's real nodes are: the lab's key authorised for the ``ansible`` user, the host key read
from the container itself (a trusted channel) into a known-hosts file of its own, and a ``socat``
bridge from ``127.0.0.1:<port>`` to the machine's SSH, supervised in the management site's run
folder (``pdn lab down`` stops it). The inventory groups the machines by site and by Kubernetes
role as :mod:`pdn.nodes.inventory` does for the lab's nodes; its roles come from the Machines
(control plane or worker) and its failure domains from where Cluster API placed them.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import yaml

from pdn import kube
from pdn.capi import state
from pdn.capi.management import MACHINE_LABEL
from pdn.errors import PdnError
from pdn.lab import layout
from pdn.lab.processes import running_pid, start, stop
from pdn.lab.sitenet import ssh_bridge_spec
from pdn.nodes.inventory import inventory_data
from pdn.nodes.podman import podman
from pdn.nodes.runtime import Node, ensure_ssh_key, install_key, port_base, read_host_key, wait_for_ssh
from pdn.sites import load_sites

CONTROL_PLANE_LABEL = "cluster.x-k8s.io/control-plane"
#: Machine SSH ports: the node port range of the workload site, from this offset (the lab's own
#: nodes of that site use the indices below it).
PORT_OFFSET = 50
BRIDGE_PREFIX = "capi-machine-"


def known_hosts_path() -> Path:
    return state.capi_dir() / "known_hosts"


def _sites() -> tuple[str, str]:
    management, workload = state.management_site(), state.workload_site()
    if management is None or workload is None:
        raise PdnError("Cluster API is not set up in this lab", hint="pdn lab capi up --site SITE --for WORKLOAD")
    return management, workload


def _address(container: str) -> str:
    info = json.loads(podman(["inspect", container]).stdout or "[{}]")
    networks = info[0].get("NetworkSettings", {}).get("Networks", {})
    address = str((networks.get("kind") or {}).get("IPAddress") or "")
    if not address:
        raise PdnError(f"machine {container} has no address on the kind network")
    return address


def machine_nodes() -> list[Node]:
    """The workload cluster's machines that have a node, as :class:`Node` (address on ``kind``)."""
    management, workload = _sites()
    site = load_sites().site(workload)
    zones = {domain.id: domain.zone for domain in site.failure_domains}
    namespace = f"pdn-cluster-{workload}"
    items = kube.site(management).list_items(kube.path("cluster.x-k8s.io/v1beta2", "machines", namespace=namespace))
    containers = set(
        podman(["ps", "--filter", f"label={MACHINE_LABEL}={workload}", "--format", "{{.Names}}"]).stdout.split()
    )
    nodes = []
    for index, machine in enumerate(sorted(items, key=lambda m: str(m["metadata"]["name"])), start=1):
        name = str(((machine.get("status") or {}).get("nodeRef") or {}).get("name") or "")
        if name not in containers:
            continue  # not provisioned yet, or already being deleted
        labels: dict[str, Any] = machine["metadata"].get("labels") or {}
        domain = str(machine["spec"].get("failureDomain") or "")
        nodes.append(
            Node(
                name=name, site=workload, index=index,
                role="control-plane" if CONTROL_PLANE_LABEL in labels else "worker",
                failure_domain=domain, zone=zones.get(domain, ""),
                port=port_base() + 100 * site.order + PORT_OFFSET + index, address=_address(name),
                known_hosts=known_hosts_path(),
            )
        )  # fmt: skip
    return nodes


def _bridge(management: str, node: Node) -> Any:
    return ssh_bridge_spec(management, f"{BRIDGE_PREFIX}{node.name}", node.port, node.address)


def expose(nodes: list[Node], timeout: float = 120) -> None:
    """Make every machine reachable as ``ansible@127.0.0.1:<port>`` with a pinned host key, and
    stop the bridges of machines that are gone."""
    management, _ = _sites()
    ensure_ssh_key()
    deadline = time.monotonic() + timeout
    keys = {}
    for node in nodes:
        install_key(node.name)
        keys[node.name] = read_host_key(node.name, deadline)
    path = known_hosts_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.write_text("".join(f"[{n.host}]:{n.port} {keys[n.name]}\n" for n in nodes), encoding="utf-8")
    wanted = {f"ssh-bridge-{BRIDGE_PREFIX}{node.name}" for node in nodes}
    for pid_file in layout.run_dir(management).glob(f"ssh-bridge-{BRIDGE_PREFIX}*.pid"):
        if pid_file.stem not in wanted:
            stop(ssh_bridge_spec(management, pid_file.stem.removeprefix("ssh-bridge-"), 0, ""))
    for node in nodes:  # restarted every time: a replaced Machine can move another one's port
        if running_pid(_bridge(management, node)) is not None:
            stop(_bridge(management, node))
        start(_bridge(management, node))
    for node in nodes:
        wait_for_ssh(node, timeout=max(5.0, deadline - time.monotonic()))


def write_inventory(path: Path) -> tuple[Path, list[Node]]:
    """Write the inventory of the workload cluster's machines to ``path``; return it and them."""
    nodes = machine_nodes()
    if not nodes:
        raise PdnError("Cluster API has made no machine with a node yet", hint="pdn stacks up --lab --site WORKLOAD")
    expose(nodes)
    data = inventory_data(nodes)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = "# Generated by pdn.capi.machines from the workload cluster's Machines; do not edit.\n"
    path.write_text(header + yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path, nodes
