"""The lab's serving-certificate approver: only a Machine's own kubelet, only its own names."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pdn.capi import approver

MADE = datetime(2026, 12, 3, 17, 0, tzinfo=UTC)


def machine(name: str, address: str, made: datetime = MADE) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "creationTimestamp": made.strftime("%Y-%m-%dT%H:%M:%SZ")},
        "status": {"nodeRef": {"name": name}, "addresses": [{"type": "InternalIP", "address": address},
                                                            {"type": "Hostname", "address": name}]},
    }  # fmt: skip


def request(node: str, names: list[str], made: datetime, *, signer: str = "kubernetes.io/kubelet-serving") -> dict:
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = []
    for name in names:
        try:
            import ipaddress

            sans.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            sans.append(x509.DNSName(name))
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"system:node:{node}")]))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .sign(key, hashes.SHA256())
    )
    pem = csr.public_bytes(serialization.Encoding.PEM)
    return {
        "metadata": {"name": f"csr-{node}-{len(names)}", "creationTimestamp": made.strftime("%Y-%m-%dT%H:%M:%SZ")},
        "spec": {"username": f"system:node:{node}", "signerName": signer, "request": base64.b64encode(pem).decode()},
    }


class FakeCluster:
    """Both clusters in one: the management side's Machines and Secret, the workload's CSRs."""

    def __init__(self, machines: list[dict[str, Any]], requests: list[dict[str, Any]]) -> None:
        self.machines, self.requests, self.approved = machines, requests, []
        self.selectors: list[str | None] = []

    def list_items(self, where: str, label_selector: str | None = None) -> list[dict[str, Any]]:
        self.selectors.append(label_selector)
        return self.machines if "machines" in where else self.requests

    def get(self, where: str) -> dict[str, Any] | None:
        assert where == "/api/v1/namespaces/pdn-cluster-ikn/secrets/ikn-kubeconfig"
        return {"data": {"value": base64.b64encode(b"apiVersion: v1\nkind: Config\n").decode()}}

    def request(self, method: str, where: str, body: dict[str, Any]) -> None:
        assert method == "PUT" and where.endswith("/approval")
        assert body["status"]["conditions"][0]["reason"] == "PdnCapiMachine"
        self.approved.append(body["metadata"]["name"])


def test_only_a_machines_own_kubelet_asking_for_its_own_names_after_it_was_made_is_approved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    later = MADE + timedelta(minutes=1)
    requests = [
        request("ikn-cp-1", ["ikn-cp-1", "10.249.0.5"], later),  # approved
        request("ikn-cp-1", ["ikn-cp-1", "10.249.0.99"], later),  # another address: never
        request("ikn-w-1", ["ikn-w-1", "10.249.0.6"], MADE - timedelta(minutes=5)),  # before its Machine
        request("intruder", ["intruder", "10.249.0.7"], later),  # no Machine of that name
        request("ikn-w-1", ["ikn-w-1"], later, signer="kubernetes.io/kube-apiserver-client-kubelet"),
    ]
    cluster = FakeCluster([machine("ikn-cp-1", "10.249.0.5"), machine("ikn-w-1", "10.249.0.6")], requests)
    monkeypatch.setattr(approver.kube, "Kube", lambda *_a, **_k: cluster)
    served = approver.Approver(cluster, "ikn", tmp_path).once()  # type: ignore[arg-type]
    assert cluster.approved == [requests[0]["metadata"]["name"]]
    assert served == {"ikn-cp-1"}
    assert cluster.selectors[0] == "cluster.x-k8s.io/cluster-name=ikn"
    assert (tmp_path / "ikn-workload.kubeconfig").stat().st_mode & 0o077 == 0


def test_without_machines_nothing_is_read_from_the_workload_cluster(tmp_path: Path) -> None:
    cluster = FakeCluster([], [])
    assert approver.Approver(cluster, "ikn", tmp_path).once() == set()  # type: ignore[arg-type]
    assert not (tmp_path / "ikn-workload.kubeconfig").exists()


def test_the_approver_may_list_machines_and_read_one_secret_only() -> None:
    role, binding = approver.rbac("ikn")
    assert role["rules"] == [
        {"apiGroups": ["cluster.x-k8s.io"], "resources": ["machines"], "verbs": ["get", "list"]},
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"], "resourceNames": ["ikn-kubeconfig"]},
    ]
    assert binding["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": approver.USER}]
