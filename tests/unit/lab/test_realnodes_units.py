"""Real lab nodes without containers: the kubeadm documents, names, networks and add-ons as data."""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pdn.errors import InputError
from pdn.harden import kubebench
from pdn.lab import kube_addons, layout, realnodes, sitenet
from pdn.lab.fake_nodes import FAKE_TAINT, site_nodes
from pdn.nodes.runtime import Node
from pdn.sites import load_sites
from pdn.toolchain.lock import load_lock

MODEL = load_sites()
SITE = MODEL.site("cikarang")


def documents_by_kind() -> dict[str, dict[str, object]]:
    return {str(doc["kind"]): doc for doc in realnodes.kubeadm_configuration(SITE)}


def test_kubeadm_documents_follow_the_site_model() -> None:
    docs = documents_by_kind()
    cluster = docs["ClusterConfiguration"]
    assert cluster["kubernetesVersion"] == SITE.kubernetes.version
    assert cluster["networking"] == {
        "podSubnet": SITE.kubernetes.pod_cidr,
        "serviceSubnet": SITE.kubernetes.service_cidr,
        "dnsDomain": "cluster.local",
    }
    host, port = str(cluster["controlPlaneEndpoint"]).split(":")
    assert host == sitenet.gateway(SITE.id) and ipaddress.ip_address(host) in sitenet.subnet(SITE.id)
    assert int(port) == layout.port(SITE.id, "kube-apiserver")
    proxy = docs["KubeProxyConfiguration"]
    # legacy iptables cannot run here, and nf_conntrack_max is host-global
    assert proxy["mode"] == "nftables" and proxy["conntrack"] == {"maxPerCore": 0, "min": 0}
    kubelet = docs["KubeletConfiguration"]
    assert kubelet["cgroupDriver"] == "cgroupfs" and kubelet["failSwapOn"] is False
    assert kubelet["clusterDNS"] == [str(ipaddress.ip_network(SITE.kubernetes.service_cidr)[10])]


def test_new_nodes_start_with_the_settings_hardening_enforces() -> None:
    kubelet = documents_by_kind()["KubeletConfiguration"]
    for key, value in realnodes.hardened_kubelet_settings().items():
        assert kubelet[key] == value, key
    assert kubelet["readOnlyPort"] == 0 and kubelet["authentication"]["anonymous"]["enabled"] is False
    assert kubelet["protectKernelDefaults"] is True


def node(index: int, role: str = "worker") -> Node:
    domain = SITE.failure_domains[(index - 1) % len(SITE.failure_domains)]
    return Node(f"pdn-cikarang-node-{index}", SITE.id, index, role, domain.id, domain.zone, 22100 + index,
                address=sitenet.node_address(SITE.id, index))  # fmt: skip


@pytest.fixture
def site_pki(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A lab state folder holding the site's PKI, as ``pdn lab up`` makes it."""
    from pdn.lab.pki import ensure_pki

    monkeypatch.setenv("PDN_LAB_DIR", str(tmp_path))
    ensure_pki(layout.pki_dir(SITE.id), SITE.id, SITE.kubernetes.service_cidr, (sitenet.gateway(SITE.id),))
    return layout.pki_dir(SITE.id)


def test_join_configuration_pins_the_ca_and_labels_the_node(site_pki: Path) -> None:
    joined = realnodes.join_configuration(SITE, node(1), "abcdef.0123456789abcdef")
    discovery = joined["discovery"]["bootstrapToken"]
    assert discovery["apiServerEndpoint"] == realnodes.endpoint(SITE)
    assert discovery["caCertHashes"] == [realnodes.ca_cert_hash(SITE)]
    registration = joined["nodeRegistration"]
    extra = {item["name"]: item["value"] for item in registration["kubeletExtraArgs"]}
    assert extra["node-ip"] == sitenet.node_address(SITE.id, 1)
    labels = dict(pair.split("=", 1) for pair in extra["node-labels"].split(","))
    assert labels["topology.kubernetes.io/region"] == SITE.id
    assert labels["topology.kubernetes.io/zone"] == SITE.failure_domains[0].zone
    assert labels["pdn.go.id/node-kind"] == "real"
    # NodeRestriction refuses kubelets that set node-role or other kubernetes.io labels themselves
    assert not [key for key in labels if key.startswith("node-role.") or key.startswith("kubernetes.io/")]


def test_ca_cert_hash_is_the_sha256_of_the_public_key(
    tmp_path: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pdn.lab.pki import ensure_pki

    monkeypatch.setenv("PDN_LAB_DIR", str(tmp_path))
    from pdn.lab import layout

    ensure_pki(layout.pki_dir(SITE.id), SITE.id, SITE.kubernetes.service_cidr, (sitenet.gateway(SITE.id),))
    import hashlib

    ca = x509.load_pem_x509_certificate((layout.pki_dir(SITE.id) / "ca.crt").read_bytes())
    spki = ca.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert realnodes.ca_cert_hash(SITE) == "sha256:" + hashlib.sha256(spki).hexdigest()
    served = x509.load_pem_x509_certificate((layout.pki_dir(SITE.id) / "apiserver.crt").read_bytes())
    names = served.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address(sitenet.gateway(SITE.id)) in names.get_values_for_type(x509.IPAddress)


def test_site_networks_never_overlap_between_sites_or_labs(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, str] = {}
    for base in ("27100", "25100", "28100"):
        monkeypatch.setenv("PDN_LAB_PORT_BASE", base)
        for site in MODEL.sites:
            net = sitenet.subnet(site.id)
            assert net.subnet_of(sitenet.SUPERNET)
            assert str(net) not in seen, f"{base}/{site.id} shares {net} with {seen.get(str(net))}"
            seen[str(net)] = f"{base}/{site.id}"
            assert sitenet.node_address(site.id, 1) != sitenet.gateway(site.id)
    for other in (MODEL.site("cikarang").kubernetes.pod_cidr, MODEL.site("cikarang").kubernetes.service_cidr):
        assert not any(ipaddress.ip_network(net).overlaps(ipaddress.ip_network(other)) for net in seen)


def test_kube_router_runs_on_real_nodes_only_and_enforces_policy() -> None:
    objects = kube_addons.kube_router_objects(SITE, "docker.io/cloudnativelabs/kube-router:v2.10.0")
    daemonset = next(obj for obj in objects if obj["kind"] == "DaemonSet")
    pod = daemonset["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"pdn.go.id/node-kind": "real"}
    args = pod["containers"][0]["args"]
    assert "--run-firewall=true" in args and "--run-service-proxy=false" in args
    assert pod["containers"][0]["imagePullPolicy"] == "Never"
    env = {item["name"]: item.get("value") for item in pod["containers"][0]["env"]}
    assert env["KUBERNETES_SERVICE_HOST"] == sitenet.gateway(SITE.id)
    # the upstream role grants read access plus leases; nothing writes pods, secrets or RBAC
    role = next(obj for obj in objects if obj["kind"] == "ClusterRole")
    writes = {verb for rule in role["rules"] for verb in rule["verbs"]} - {"get", "list", "watch"}
    assert writes <= {"create", "update"}
    assert not any("secrets" in rule["resources"] for rule in role["rules"])


def test_coredns_never_forwards_outside_the_lab() -> None:
    assert "forward" not in kube_addons.COREFILE and "kubernetes cluster.local" in kube_addons.COREFILE


def test_kwok_nodes_are_tainted_so_real_work_never_lands_there() -> None:
    for fake in site_nodes(SITE):
        assert FAKE_TAINT in fake["spec"]["taints"]


def csr(names: list[str], ips: list[str]) -> dict[str, object]:
    key = ec.generate_private_key(ec.SECP256R1())
    sans = [x509.DNSName(n) for n in names] + [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "system:node:x")]))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .sign(key, hashes.SHA256())
    )
    pem = request.public_bytes(serialization.Encoding.PEM)
    return {"spec": {"request": base64.b64encode(pem).decode()}}


def test_serving_certificate_requests_are_read_for_their_names() -> None:
    asked = kube_addons._names(csr(["pdn-cikarang-node-1"], ["10.250.75.11"]))
    assert asked == {"pdn-cikarang-node-1", "10.250.75.11"}
    assert kube_addons._names(csr(["evil.example"], [])) == {"evil.example"}


def test_a_node_made_again_under_an_old_name_gets_its_own_request_approved(monkeypatch: pytest.MonkeyPatch) -> None:
    """The removed node's approved request does not pass for the new kubelet's certificate."""
    from datetime import UTC, datetime

    def request(name: str, created: str, approved: bool) -> dict[str, Any]:
        made = csr(["pdn-cikarang-node-1"], ["10.250.75.11"])
        made["metadata"] = {"name": name, "creationTimestamp": created}
        made["spec"] = {**made["spec"], "signerName": "kubernetes.io/kubelet-serving",  # type: ignore[dict-item]
                        "username": "system:node:pdn-cikarang-node-1"}  # fmt: skip
        made["status"] = {"conditions": [{"type": "Approved", "status": "True"}]} if approved else {}
        return made

    requests = [
        request("csr-old-approved", "2026-12-02T00:00:00Z", approved=True),  # the node of an earlier run
        request("csr-old-pending", "2026-12-02T00:01:00Z", approved=False),  # and one it never got
        request("csr-new", "2026-12-02T00:20:05Z", approved=False),  # the new kubelet's, after the join
    ]
    approved: list[str] = []

    class Client:
        def list_items(self, _path: str) -> list[dict[str, Any]]:
            return requests

        def request(self, method: str, path: str, body: dict[str, Any]) -> None:
            assert method == "PUT" and path.endswith("/approval")
            approved.append(body["metadata"]["name"])
            body["status"]["conditions"][0]["type"] = "Approved"

    monkeypatch.setattr("pdn.lab.kube_addons.kube.site", lambda _site_id: Client())
    joined = datetime(2026, 12, 2, 0, 20, 5, 700000, tzinfo=UTC)  # creation times have whole seconds
    assert kube_addons.approve_serving_certificates(SITE, {"pdn-cikarang-node-1": "10.250.75.11"}, 5, joined) == 1
    assert approved == ["csr-new"]


KUBE_BENCH_JSON = {
    "Controls": [
        {
            "id": "4",
            "tests": [
                {
                    "section": "4.1",
                    "results": [
                        {"test_number": "4.1.1", "test_desc": "service file", "status": "PASS"},
                        {"test_number": "4.1.2", "test_desc": "service owner", "status": "FAIL"},
                        {"test_number": "4.2.8", "test_desc": "event QPS", "status": "WARN"},
                        {"test_number": "4.3.1", "test_desc": "proxy metrics", "status": "INFO"},
                    ],
                }
            ],
        }
    ]
}


def test_kube_bench_result_needs_every_failure_waived() -> None:
    result = kubebench.parse(json.dumps(KUBE_BENCH_JSON), {"4.1.2": "owned by root in the image"})
    assert result.passed == ["4.1.1"]
    assert result.not_passed == ["4.1.2", "4.2.8"]
    assert result.unwaived == ["4.2.8"] and not result.ok
    everything = kubebench.parse(json.dumps(KUBE_BENCH_JSON), {"4.1.2": "a", "4.2.8": "b"})
    assert everything.ok and everything.summary() == "1 passed, 2 waived, 0 not passed"
    assert kubebench.parse("not json", {}).error
    assert kubebench.parse(json.dumps({"Controls": []}), {}).ok is False


def test_kube_bench_waivers_need_reasons(tmp_path: Path) -> None:
    path = tmp_path / "waivers.yml"
    path.write_text("waivers:\n  4.2.8: ''\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"4\.2\.8"):
        kubebench.load_waivers(path)
    assert isinstance(kubebench.load_waivers(), dict)


def test_node_units_share_the_control_plane_release() -> None:
    lock = load_lock()
    assert lock.units["kubernetes-node"].version == lock.units["kubernetes"].version
    assert {site.kubernetes.version for site in MODEL.sites} == {lock.units["kubernetes-node"].version}
    for unit in ("kubernetes-node", "containerd", "cni-plugins", "coredns", "kube-router", "kube-bench"):
        assert lock.units[unit].static, f"{unit} goes into a node or a FROM-scratch image: build it static"


def test_fields_added_later_do_not_change_older_recipes() -> None:
    unit = load_lock().units["etcd"]
    digest = hashlib.sha256(unit.model_dump_json(exclude={"tags", "static", "data_dirs"}).encode())
    for name in ("go.mod", "go.sum"):
        digest.update((unit.module_dir / name).read_bytes())
    assert unit.recipe() == digest.hexdigest()[:16]
    static = unit.model_copy(update={"static": True})
    assert static.recipe() != unit.recipe()


def test_node_units_are_part_of_the_default_build() -> None:
    """`pdn up` and CI run real nodes, so `pdn toolchain build` (no --all) must build their tools."""
    lock = load_lock()
    for unit in ("kubernetes-node", "containerd", "cni-plugins", "coredns", "kube-router", "kube-bench"):
        assert not lock.units[unit].optional, unit


def test_every_kube_bench_waiver_names_a_node_check() -> None:
    waivers = kubebench.load_waivers()
    assert all(check.startswith("4.") and check.count(".") == 2 for check in waivers), sorted(waivers)
    assert all(len(reason) > 40 for reason in waivers.values()), "a waiver needs a real reason"


def _fake_nodes(monkeypatch: pytest.MonkeyPatch, real: bool) -> dict[str, list[str]]:
    from pdn import nodes

    calls: dict[str, list[str]] = {"paused": [], "removed": [], "networks": [], "bridges": [], "forgotten": []}
    node = Node("pdn-cikarang-node-1", "cikarang", 1, "worker", "fd", "z", 24001, address="10.250.1.11" if real else "")

    def record(what: str, value: str) -> list[str]:
        calls[what].append(value)
        return [value]

    monkeypatch.setattr(nodes, "list_nodes", lambda site=None: [node])
    monkeypatch.setattr(nodes, "real_nodes", lambda sites=None: [node] if node.address else [])
    monkeypatch.setattr(nodes, "pause_real_nodes", lambda sites: record("paused", node.name))
    monkeypatch.setattr(nodes, "stop_nodes", lambda site=None: record("removed", node.name))
    monkeypatch.setattr(sitenet, "remove_network", lambda site: bool(record("networks", site)))
    monkeypatch.setattr("pdn.lab.nodes_bridge.shutil.which", lambda tool: f"/usr/bin/{tool}")
    monkeypatch.setattr("pdn.lab.processes.stop", lambda spec: bool(record("bridges", spec.name)))
    monkeypatch.setattr(nodes, "write_inventory", lambda path: path)
    monkeypatch.setattr("pdn.lab.realnodes.forget_nodes", lambda site, names: calls["forgotten"].extend(names))
    return calls


@pytest.mark.parametrize(("real", "keep", "paused", "removed"), [
    (True, True, True, False),    # lab down: real nodes stop, stay members of the kept cluster
    (True, False, False, True),   # lab down --purge: they go with the cluster's state
    (False, True, False, True),   # plain hardening containers are always removed
])  # fmt: skip
def test_lab_down_stops_real_nodes_and_purge_removes_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, real: bool, keep: bool, paused: bool, removed: bool
) -> None:
    from pdn.lab.nodes_bridge import stop_node_containers

    monkeypatch.setenv("PDN_LAB_DIR", str(tmp_path))
    calls = _fake_nodes(monkeypatch, real)
    stop_node_containers("cikarang", keep_real=keep)
    assert bool(calls["paused"]) == paused and bool(calls["removed"]) == removed
    assert bool(calls["networks"]) == removed, "the site network goes exactly when the nodes go"
    bridges = ["kube-apiserver-bridge", "minio-bridge", "minio-bridge-batam", "minio-bridge-ikn"]  # + partners' stores
    expected = ["ssh-bridge-pdn-cikarang-node-1", *bridges] if real and removed else []
    assert calls["bridges"] == expected, "a removed real node's bridges stop with it"
    assert calls["forgotten"] == (["pdn-cikarang-node-1"] if real and removed else []), "its Node object goes too"


def test_inotify_instances_are_counted_across_the_host() -> None:
    import ctypes
    import os

    from pdn.lab.hostlimits import inotify_instances_in_use

    before = inotify_instances_in_use()
    fd = ctypes.CDLL(None).inotify_init()
    assert fd >= 0
    try:
        assert inotify_instances_in_use() == before + 1
    finally:
        os.close(fd)


def test_real_nodes_that_would_run_out_of_inotify_instances_are_refused() -> None:
    from pdn.errors import PdnError
    from pdn.lab.hostlimits import INOTIFY_PER_NODE, check_room_for_nodes

    check_room_for_nodes(4, used=40, limit=128)  # 88 left: room for 6
    check_room_for_nodes(0, used=128, limit=128)  # restarting nothing new needs nothing
    with pytest.raises(PdnError, match=r"8 more real node\(s\) do not fit.*128.*40 are in use") as refused:
        check_room_for_nodes(8, used=40, limit=128)
    assert refused.value.hint and "max_user_instances" in refused.value.hint
    assert (128 - 40) // INOTIFY_PER_NODE < 8
