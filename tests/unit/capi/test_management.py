"""How the lab's Cluster API managers are run: addresses, containers, flags."""

from __future__ import annotations

import os
import subprocess
from typing import Any

import pytest

from pdn.capi import management
from pdn.capi.manifests import PROVIDERS, provider
from pdn.lab import sitenet


@pytest.fixture(autouse=True)
def _port_base(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PDN_LAB_PORT_BASE", "27100")


def test_managers_sit_below_the_nodes_on_the_site_network_each_at_an_address_of_its_own() -> None:
    addresses = [management.address("cikarang", item) for item in PROVIDERS]
    assert len(set(addresses)) == len(PROVIDERS)
    gateway = sitenet.gateway("cikarang")
    first_node = sitenet.node_address("cikarang", 1)
    for value in addresses:
        assert value != gateway
        assert sitenet.subnet("cikarang").network_address < __import__("ipaddress").ip_address(value)
        assert tuple(map(int, value.split("."))) < tuple(map(int, first_node.split(".")))


@pytest.mark.parametrize("name", [item.name for item in PROVIDERS])
def test_a_manager_container_has_no_privilege_and_only_the_labs_networks(name: str) -> None:
    args = management.run_args("cikarang", provider(name), "localhost/pdn/capi-controllers:abc")
    joined = " ".join(args)
    assert "--read-only" in args and "--cap-drop=all" in args and "--security-opt=no-new-privileges" in args
    assert "--privileged" not in args and "host" not in [a.split(":")[0] for a in args]
    networks = [args[i + 1] for i, a in enumerate(args) if a == "--network"]
    assert networks == [f"{sitenet.network_name('cikarang')}:ip={management.address('cikarang', provider(name))}",
                        management.KIND_NETWORK]  # fmt: skip
    assert "-p" not in args and "--publish" not in joined
    has_socket = "DOCKER_HOST=unix:///run/pdn/docker.sock" in args
    assert has_socket == (name == "docker")
    user = args[args.index("--user") + 1]
    assert (user == "0:0") == (name == "docker")


def test_manager_flags_keep_diagnostics_on_loopback_and_serve_webhooks_with_the_mounted_certificate() -> None:
    for item in PROVIDERS:
        args = management.manager_args(item)
        # --namespace breaks the kubeadm control plane controller (multi-namespace cache)
        assert not any(arg.startswith("--namespace") for arg in args)
        assert "--diagnostics-address=127.0.0.1:8443" in args
        assert f"--webhook-cert-dir={management.FILES}" in args
        assert "--leader-elect=false" in args
        assert not any("0.0.0.0" in arg for arg in args)


def test_the_docker_proxy_lets_the_provider_use_lab_images_on_the_kind_network_only() -> None:
    proxy = next(spec for spec in management.service_specs("cikarang") if spec.name == "docker-proxy")
    argv = proxy.argv
    assert argv[1:3] == ["-m", "pdn.capi.dockerproxy"]
    assert argv[argv.index("--network") + 1] == "kind"
    prefixes = [argv[i + 1] for i, a in enumerate(argv) if a == "--image-prefix"]
    assert prefixes == ["localhost/pdn-debian12-k8s-node", "localhost/pdn/haproxy"]
    upstream = argv[argv.index("--upstream") + 1]
    assert upstream.endswith("podman.sock") and upstream != argv[argv.index("--listen") + 1]
    assert argv[argv.index("--label") + 1] == f"pdn.namespace={os.environ.get('PDN_NODES_NAMESPACE', 'pdn')}"


def test_purging_removes_this_labs_machines_and_the_network_only_after_the_last(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Another lab's machines (the capi tier beside the lab tier) survive this lab's purge."""
    machines = {"ikn-a": "pdn", "ikn-b": "pdn", "other-x": "pdncapi"}
    calls: list[list[str]] = []

    def fake_podman(args: list[str], check: bool = True, timeout: float = 60) -> Any:
        calls.append(args)
        if args[:2] == ["ps", "-a"]:
            wanted = [a.split("=", 2)[2] for a in args if a.startswith("label=pdn.namespace=")]
            names = [n for n, lab in machines.items() if not wanted or lab == wanted[0]]
            return subprocess.CompletedProcess(args, 0, "\n".join(names), "")
        if args[:2] == ["rm", "-f"]:
            machines.pop(args[-1])
        return subprocess.CompletedProcess(args, 0, "", "")

    monkeypatch.delenv("PDN_NODES_NAMESPACE", raising=False)
    monkeypatch.setattr(management, "podman", fake_podman)
    monkeypatch.setattr(management.shutil, "which", lambda _: "/usr/bin/podman")
    management.remove_machines()
    assert machines == {"other-x": "pdncapi"}
    assert not any(call[:2] == ["network", "rm"] for call in calls)  # the other lab still uses it
    monkeypatch.setenv("PDN_NODES_NAMESPACE", "pdncapi")
    management.remove_machines()
    assert not machines and ["network", "rm", management.KIND_NETWORK] in calls


def test_the_management_cluster_never_reconciles_its_own_sites_cluster() -> None:
    from pdn.errors import PdnError

    with pytest.raises(PdnError, match="cannot also hold"):
        management.up("cikarang", "cikarang")


def test_the_serving_certificate_approver_runs_beside_the_proxy_for_the_recorded_workload(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pdn.capi import state

    monkeypatch.setenv("PDN_LAB_DIR", str(tmp_path))
    assert [spec.name for spec in management.service_specs("cikarang")] == ["podman-service", "docker-proxy"]
    state.record("cikarang", "ikn")
    approving = management.service_specs("cikarang")[-1]
    assert approving.name == "csr-approver"
    argv = approving.argv
    assert argv[1:3] == ["-m", "pdn.capi.approver"] and argv[argv.index("--workload") + 1] == "ikn"
    assert argv[argv.index("--kubeconfig") + 1] == str(management.approver_kubeconfig())
