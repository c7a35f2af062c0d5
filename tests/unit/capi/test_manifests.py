"""The providers' upstream manifests adapted as data for the lab's management cluster."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml

from pdn.capi import manifests
from pdn.errors import PdnError
from pdn.stacks.crds import load_pins

CA = b"-----BEGIN CERTIFICATE-----\nfake\n-----END CERTIFICATE-----\n"
URL = "https://10.250.5.5:9443"


def _crd(name: str, versions: list[str]) -> dict[str, object]:
    plural, _, group = name.partition(".")
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": name, "annotations": {"controller-gen.kubebuilder.io/version": "v0.18.0"}},
        "spec": {
            "group": group,
            "names": {"plural": plural},
            "versions": [{"name": v, "served": True, "storage": v == versions[-1]} for v in versions],
        },
    }


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A CRD cache holding the core provider's config folder shaped as upstream ships it."""
    pin = next(pin for pin in load_pins() if pin.module == "sigs.k8s.io/cluster-api")
    config = tmp_path / pin.cache_name / "core" / "config"
    (config / "crd" / "bases").mkdir(parents=True)
    (config / "webhook").mkdir()
    (config / "rbac").mkdir()
    for name, versions in (("clusters.cluster.x-k8s.io", ["v1beta1", "v1beta2"]), ("ips.cluster.x-k8s.io", ["v1"])):
        plural, _, group = name.partition(".")
        (config / "crd" / "bases" / f"{group}_{plural}.yaml").write_text(yaml.safe_dump(_crd(name, versions)))
    kustomization = {
        "labels": [{"pairs": {"cluster.x-k8s.io/v1beta2": "v1beta2"}}],
        "resources": ["bases/cluster.x-k8s.io_clusters.yaml", "bases/cluster.x-k8s.io_ips.yaml"],
    }
    (config / "crd" / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    hooks = [
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": kind,
            "metadata": {"name": f"{flavour}-webhook-configuration"},
            "webhooks": [
                {
                    "name": f"{flavour}.cluster.cluster.x-k8s.io",
                    "clientConfig": {"service": {"name": "webhook-service", "namespace": "system", "path": path}},
                }
            ],
        }
        for kind, flavour, path in (
            ("MutatingWebhookConfiguration", "mutating", "/mutate-cluster-x-k8s-io-v1beta2-cluster"),
            ("ValidatingWebhookConfiguration", "validating", "/validate-cluster-x-k8s-io-v1beta2-cluster"),
        )
    ]
    (config / "webhook" / "manifests.yaml").write_text(yaml.safe_dump_all(hooks))
    roles = [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "manager-role"},
         "rules": [{"apiGroups": ["cluster.x-k8s.io"], "resources": ["*"], "verbs": ["*"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "manager-role"}},
    ]  # fmt: skip
    (config / "rbac" / "role.yaml").write_text(yaml.safe_dump_all(roles))
    return tmp_path


def test_crds_get_their_contract_labels_and_a_conversion_webhook_only_when_they_serve_two_versions(
    tree: Path,
) -> None:
    found = {crd["metadata"]["name"]: crd for crd in manifests.crds(manifests.provider("core"), URL, CA, tree)}
    assert set(found) == {"clusters.cluster.x-k8s.io", "ips.cluster.x-k8s.io"}
    clusters = found["clusters.cluster.x-k8s.io"]
    assert clusters["metadata"]["labels"] == {"cluster.x-k8s.io/v1beta2": "v1beta2"}
    assert "annotations" not in clusters["metadata"]
    webhook = clusters["spec"]["conversion"]["webhook"]
    assert webhook["clientConfig"] == {"url": f"{URL}/convert", "caBundle": base64.b64encode(CA).decode()}
    assert "conversion" not in found["ips.cluster.x-k8s.io"]["spec"]


def test_webhooks_call_the_manager_by_url_with_the_lab_ca_under_names_of_their_own(tree: Path) -> None:
    configs = manifests.webhook_configurations(manifests.provider("core"), URL, CA, tree)
    assert [c["metadata"]["name"] for c in configs] == ["pdn-capi-core-mutating", "pdn-capi-core-validating"]
    client = configs[1]["webhooks"][0]["clientConfig"]
    assert client["url"] == f"{URL}/validate-cluster-x-k8s-io-v1beta2-cluster"
    assert base64.b64decode(client["caBundle"]) == CA
    assert "service" not in client


def test_the_manager_role_is_bound_to_the_providers_own_user_only(tree: Path) -> None:
    role, binding = manifests.rbac(manifests.provider("core"), tree)
    assert role["kind"] == "ClusterRole" and role["metadata"]["name"] == "pdn-capi-core"
    assert role["rules"] == [{"apiGroups": ["cluster.x-k8s.io"], "resources": ["*"], "verbs": ["*"]}]
    assert binding["roleRef"]["name"] == "pdn-capi-core"
    assert binding["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "pdn:capi:core"}]


def test_a_missing_manifest_names_the_file_and_the_fix(tree: Path) -> None:
    with pytest.raises(PdnError, match=r"manifests\.yaml is missing") as raised:
        manifests.webhook_configurations(manifests.provider("docker"), URL, CA, tree)
    assert "pdn stacks crds" in (raised.value.hint or "")


def test_every_provider_module_is_pinned_at_the_toolchains_version() -> None:
    from pdn.toolchain.lock import load_lock

    pins = {pin.module: pin.version for pin in load_pins()}
    units = load_lock().units
    assert pins["sigs.k8s.io/cluster-api"] == units["capi-core"].version == units["capd"].version
    assert pins["sigs.k8s.io/cluster-api/test"] == units["capd"].version
    assert pins["github.com/vmware-tanzu/velero"] == units["velero"].version
    for item in manifests.PROVIDERS:
        assert item.module in pins


def test_webhooks_check_only_the_watched_namespace_when_given_one(tree: Path) -> None:
    configs = manifests.webhook_configurations(manifests.provider("core"), URL, CA, tree, namespace="pdn-cluster-ikn")
    for config in configs:
        for webhook in config["webhooks"]:
            assert webhook["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "pdn-cluster-ikn"}}
