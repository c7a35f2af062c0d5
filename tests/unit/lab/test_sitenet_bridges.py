"""Gateway bridges of a site network: the API server, the site's own MinIO, and the MinIO of every
backup partner of the site model, each on the site's gateway at the target's port."""

from __future__ import annotations

import ipaddress
import shutil

import pytest

from pdn.lab import endpoints, layout, sitenet
from pdn.sites import load_sites

BASE = 23100


@pytest.fixture(autouse=True)
def port_base(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setenv("PDN_LAB_PORT_BASE", str(BASE))
    return BASE


def _by_name(site: str) -> dict[str, sitenet.GatewayBridge]:
    found = sitenet.bridges(site)
    names = [bridge.name for bridge in found]
    assert len(names) == len(set(names)), f"bridge names repeat: {names}"
    return {bridge.name: bridge for bridge in found}


@pytest.mark.parametrize(
    ("site", "partners"),
    [("cikarang", ["batam", "ikn"]), ("batam", ["cikarang", "labuan-bajo"])],
)
def test_one_bridge_per_backup_partner_besides_the_api_and_own_store(site: str, partners: list[str]) -> None:
    assert [p.site for p in load_sites().site(site).backup.partners] == partners  # the model these tests assume
    bridges = _by_name(site)
    expected = {"kube-apiserver-bridge", "minio-bridge", *(f"minio-bridge-{partner}" for partner in partners)}
    assert set(bridges) == expected
    assert (bridges["kube-apiserver-bridge"].target, bridges["kube-apiserver-bridge"].component) == (
        site,
        "kube-apiserver",
    )
    assert (bridges["minio-bridge"].target, bridges["minio-bridge"].component) == (site, "minio")
    for partner in partners:
        bridge = bridges[f"minio-bridge-{partner}"]
        assert (bridge.site, bridge.target, bridge.component) == (site, partner, "minio")


def test_partner_bridges_listen_on_the_sites_gateway_at_the_targets_port() -> None:
    gateway = sitenet.gateway("cikarang")
    for bridge in sitenet.bridges("cikarang"):
        assert bridge.address == (gateway, layout.port(bridge.target, bridge.component))
    ikn = _by_name("cikarang")["minio-bridge-ikn"]
    assert ikn.port == BASE + layout.site_index("ikn") * layout.PORTS_PER_SITE + layout.PORT_OFFSETS["minio"]
    ports = [bridge.port for bridge in sitenet.bridges("cikarang")]
    assert len(ports) == len(set(ports)), "two bridges on one gateway cannot share a port"


def test_gateways_are_per_site_and_follow_the_port_base(monkeypatch: pytest.MonkeyPatch) -> None:
    first = sitenet.gateway("cikarang")
    assert sitenet.gateway("batam") != first
    assert ipaddress.ip_address(first) in sitenet.subnet("cikarang")
    monkeypatch.setenv("PDN_LAB_PORT_BASE", str(BASE + layout.PORTS_PER_SITE * 10))
    assert sitenet.gateway("cikarang") != first
    assert _by_name("cikarang")["minio-bridge-batam"].port == layout.port("batam", "minio")


def test_spec_is_socat_from_the_gateway_to_loopback_on_the_same_port(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    if shutil.which("socat") is None:
        pytest.skip("socat is not installed")
    monkeypatch.setenv("PDN_LAB_DIR", str(tmp_path_factory.mktemp("lab")))
    bridge = _by_name("cikarang")["minio-bridge-batam"]
    spec = bridge.spec()
    port = layout.port("batam", "minio")
    gateway = sitenet.gateway("cikarang")
    assert spec.argv[0] == shutil.which("socat")
    listen, connect = spec.argv[1:]
    assert listen.startswith(f"TCP-LISTEN:{port},bind={gateway},")
    assert "fork" in listen.split(",")
    assert connect == f"TCP:127.0.0.1:{port}"
    assert spec.site == "cikarang" and spec.name == "minio-bridge-batam"
    assert spec.run_dir == layout.run_dir("cikarang")
    assert [s.name for s in sitenet.gateway_bridges("cikarang")] == [b.name for b in sitenet.bridges("cikarang")]


def test_s3_endpoint_from_self_and_partners_and_not_others() -> None:
    gateway = sitenet.gateway("cikarang")
    assert sitenet.s3_endpoint_from("cikarang", "cikarang") == f"http://{gateway}:{layout.port('cikarang', 'minio')}"
    assert sitenet.s3_endpoint_from("cikarang", "ikn") == f"http://{gateway}:{layout.port('ikn', 'minio')}"
    with pytest.raises(ValueError, match="not a backup partner"):
        sitenet.s3_endpoint_from("cikarang", "labuan-bajo")
    with pytest.raises(ValueError, match="not a backup partner"):
        sitenet.s3_endpoint_from("batam", "ikn")


def test_pod_s3_endpoint_is_the_sites_own_store_through_its_gateway() -> None:
    for site in layout.site_ids():
        expected = f"http://{sitenet.gateway(site)}:{layout.port(site, 'minio')}"
        assert sitenet.pod_s3_endpoint(site) == expected == endpoints.pod_s3_endpoint(site)


def test_bridge_s3_endpoints_are_the_own_and_partner_stores() -> None:
    gateway = sitenet.gateway("batam")
    assert endpoints.bridge_s3_endpoints("batam") == {
        site: f"http://{gateway}:{layout.port(site, 'minio')}" for site in ("batam", "cikarang", "labuan-bajo")
    }


def test_cluster_s3_endpoints_only_when_the_bridges_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sitenet, "bridged", lambda site: False)
    assert endpoints.cluster_s3_endpoints("cikarang") == {}
    monkeypatch.setattr(sitenet, "bridged", lambda site: site == "cikarang")
    assert endpoints.cluster_s3_endpoints("cikarang") == endpoints.bridge_s3_endpoints("cikarang")
    assert set(endpoints.cluster_s3_endpoints("cikarang")) == {"cikarang", "batam", "ikn"}
    assert endpoints.cluster_s3_endpoints("batam") == {}
