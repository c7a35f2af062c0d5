"""How the lab's Cluster API managers are run: addresses, containers, flags."""

from __future__ import annotations

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


def test_the_management_cluster_never_reconciles_its_own_sites_cluster() -> None:
    from pdn.errors import PdnError

    with pytest.raises(PdnError, match="cannot also hold"):
        management.up("cikarang", "cikarang")
