"""pdn.kube against a real kube-apiserver of the lab (TLS, client certificate, RBAC): what the unit
tests check against a stand-in, here with the server that decides."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pdn import kube
from pdn.kube import Kube, KubeError
from pdn.lab.nodesync import ready_nodes


@pytest.fixture(scope="module")
def site(lab: Any) -> str:
    return str(lab.sites[0])


@pytest.fixture
def client(site: str) -> Any:
    return kube.site(site)


@pytest.fixture
def namespace(client: Kube) -> Any:
    """A fresh namespace name for one test (a deleted one stays Terminating for a while)."""
    name = f"pdn-kube-wrapper-{uuid.uuid4().hex[:8]}"
    yield name
    client.delete(f"/api/v1/namespaces/{name}")


def configmap(namespace: str, name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "data": data,
            "metadata": {"name": name, "namespace": namespace, "labels": {"pdn.go.id/test": "wrapper"}}}  # fmt: skip


def test_objects_round_trip_through_the_real_server(client: Kube, namespace: str) -> None:
    assert client.reachable() is None
    created = client.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                    "metadata": {"name": namespace}})  # fmt: skip
    assert created is not None and created["metadata"]["uid"]
    where = kube.path("v1", "configmaps", namespace)
    assert client.create(where, configmap(namespace, "a", k="1")) is not None
    assert client.create(where, configmap(namespace, "a", k="1")) is None  # AlreadyExists
    assert client.get(f"{where}/a")["data"] == {"k": "1"}  # type: ignore[index]
    assert client.get(f"{where}/missing") is None
    patched = client.merge_patch(f"{where}/a", {"data": {"k": "2"}})
    assert patched["data"] == {"k": "2"}
    assert [item["metadata"]["name"] for item in client.list_items(where, "pdn.go.id/test=wrapper")] == ["a"]
    assert client.delete(f"{where}/a") is True and client.delete(f"{where}/a") is False


def test_server_side_apply_owns_fields_and_conflicts_like_kubectl(client: Kube, namespace: str) -> None:
    client.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    applied = client.apply(configmap(namespace, "b", k="1"), field_manager="pdn-migrate")
    managers = {entry["manager"] for entry in applied["metadata"]["managedFields"]}
    assert managers == {"pdn-migrate"} and applied["data"] == {"k": "1"}
    assert client.apply(configmap(namespace, "b", k="1"), field_manager="pdn-migrate")["data"] == {
        "k": "1"
    }  # idempotent
    with pytest.raises(KubeError) as conflict:
        client.apply(configmap(namespace, "b", k="other"), field_manager="someone-else")
    assert conflict.value.status == 409 and "conflict" in str(conflict.value).lower()
    forced = client.apply(configmap(namespace, "b", k="other"), field_manager="someone-else", force=True)
    assert forced["data"] == {"k": "other"}


def test_refusals_are_one_line_with_the_servers_reason(client: Kube) -> None:
    with pytest.raises(KubeError) as invalid:
        client.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                             "metadata": {"name": "Not_A_Valid_Name"}})  # fmt: skip
    assert invalid.value.status == 422 and "\n" not in str(invalid.value)
    assert "Not_A_Valid_Name" in str(invalid.value)
    with pytest.raises(KubeError, match="serves no Widget"):
        client.apply({"apiVersion": "v1", "kind": "Widget", "metadata": {"name": "w"}}, field_manager="m")


def test_lab_nodes_are_counted_through_the_wrapper(site: str) -> None:
    ready, total = ready_nodes(kube.site(site))
    assert total > 0 and ready == total


def test_a_server_signed_by_another_authority_is_refused(site: str, tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "not-the-lab-ca")])
    now = datetime.now(UTC)
    ca = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(now + timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(key, hashes.SHA256()))  # fmt: skip
    (tmp_path / "ca.crt").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    config = yaml.safe_load(kube.site(site).kubeconfig.read_text())
    config["clusters"][0]["cluster"]["certificate-authority"] = str(tmp_path / "ca.crt")
    (tmp_path / "kubeconfig.yaml").write_text(yaml.safe_dump(config))
    reason = Kube(tmp_path / "kubeconfig.yaml", timeout=5).reachable()
    assert reason is not None and "unreachable" in reason and "CERTIFICATE_VERIFY_FAILED" in reason
