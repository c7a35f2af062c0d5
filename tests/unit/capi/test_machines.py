"""The inventory of the machines Cluster API made: roles, ports, pinned host keys (no podman here)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from pdn.capi import machines, state
from pdn.errors import PdnError
from pdn.nodes.inventory import inventory_data
from pdn.nodes.runtime import Node, known_hosts_path, ssh_base_args


def _machine(name: str, node: str | None, *, control_plane: bool = False, domain: str = "") -> dict[str, Any]:
    labels = {"cluster.x-k8s.io/cluster-name": "ikn"}
    if control_plane:
        labels["cluster.x-k8s.io/control-plane"] = ""
    status = {"nodeRef": {"name": node}} if node else {}
    return {"metadata": {"name": name, "labels": labels}, "spec": {"failureDomain": domain}, "status": status}


class FakeKube:
    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items
        self.asked: list[str] = []

    def list_items(self, where: str, label_selector: str | None = None) -> list[dict[str, Any]]:
        self.asked.append(where)
        return self.items


@pytest.fixture
def lab(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeKube:
    monkeypatch.setenv("PDN_LAB_DIR", str(tmp_path))
    monkeypatch.setenv("PDN_NODES_PORT_BASE", "22000")
    state.record("cikarang", "ikn")
    fake = FakeKube([
        _machine("ikn-md-b", "ikn-md-b-x1", domain="hall-a"),
        _machine("ikn-cp-a", "ikn-cp-a-x2", control_plane=True),
        _machine("ikn-md-c", None),  # not provisioned yet: no node, no container
        _machine("ikn-md-d", "ikn-md-d-gone"),  # its container is already removed
    ])  # fmt: skip
    monkeypatch.setattr(machines.kube, "site", lambda site_id: fake)

    def podman(args: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        if args[0] == "ps":
            assert f"label={machines.MACHINE_LABEL}=ikn" in args
            return subprocess.CompletedProcess(args, 0, "ikn-md-b-x1\nikn-cp-a-x2\nikn-lb\n", "")
        if args[0] == "inspect":
            address = {"ikn-md-b-x1": "10.249.0.7", "ikn-cp-a-x2": "10.249.0.6"}[args[1]]
            info = [{"NetworkSettings": {"Networks": {"kind": {"IPAddress": address}}}}]
            return subprocess.CompletedProcess(args, 0, json.dumps(info), "")
        raise AssertionError(args)

    monkeypatch.setattr(machines, "podman", podman)
    return fake


def test_machines_with_a_node_become_inventory_nodes_with_roles_from_cluster_api(lab: FakeKube) -> None:
    nodes = {node.name: node for node in machines.machine_nodes()}
    assert set(nodes) == {"ikn-cp-a-x2", "ikn-md-b-x1"}
    assert lab.asked == ["/apis/cluster.x-k8s.io/v1beta2/namespaces/pdn-cluster-ikn/machines"]
    control_plane, worker = nodes["ikn-cp-a-x2"], nodes["ikn-md-b-x1"]
    assert (control_plane.role, worker.role) == ("control-plane", "worker")
    assert (worker.failure_domain, worker.zone) == ("hall-a", "ikn-a")
    assert (control_plane.address, worker.address) == ("10.249.0.6", "10.249.0.7")
    ports = {node.port for node in nodes.values()}
    # ikn is the third site (order 3): its node range, above the lab's own nodes of that site
    assert len(ports) == 2 and all(22350 < port < 22400 for port in ports)
    assert all(node.host == "127.0.0.1" and node.known_hosts == machines.known_hosts_path() for node in nodes.values())


def test_their_inventory_pins_host_keys_in_the_machines_own_file(lab: FakeKube) -> None:
    nodes = machines.machine_nodes()
    data = inventory_data(nodes)["all"]
    assert f"UserKnownHostsFile={machines.known_hosts_path()} " in data["vars"]["ansible_ssh_common_args"]
    assert str(known_hosts_path()) not in data["vars"]["ansible_ssh_common_args"]
    assert set(data["children"]["kubernetes"]["children"]["control_plane"]["hosts"]) == {"ikn-cp-a-x2"}
    assert set(data["children"]["site_ikn"]["hosts"]) == {"ikn-cp-a-x2", "ikn-md-b-x1"}
    assert f"UserKnownHostsFile={machines.known_hosts_path()}" in ssh_base_args(nodes[0])


def test_one_inventory_never_mixes_two_host_key_files(lab: FakeKube) -> None:
    lab_node = Node("pdn-ikn-node-1", "ikn", 1, "worker", "hall-a", "ikn-a", 22301)
    with pytest.raises(ValueError, match="one file"):
        inventory_data([lab_node, *machines.machine_nodes()])


def test_without_a_management_plane_the_inventory_says_how_to_set_it_up(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PDN_LAB_DIR", str(tmp_path))
    with pytest.raises(PdnError, match="not set up") as error:
        machines.machine_nodes()
    assert "pdn lab capi up" in (error.value.hint or "")
