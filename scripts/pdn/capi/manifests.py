"""The Cluster API providers' own manifests, as the lab's management cluster gets them.

Each provider's CRDs, webhook configurations and controller role come from the pinned Go module
(``infra/crds.yaml``, fetched by :func:`pdn.stacks.crds.fetch`). Upstream assembles them with
kustomize for in-cluster Deployments behind a Service; the lab runs each manager in a container
of its own on the management site's network (:mod:`pdn.capi.management`), so the same documents
are adapted as data here:

- CRDs get the contract labels their kustomization adds (``cluster.x-k8s.io/v1beta2: v1beta2``,
  which the topology controller reads) and, when they serve more than one version, the
  conversion webhook of their provider;
- webhook configurations call the provider at ``https://ADDRESS:9443/PATH`` with the lab's
  webhook CA instead of a Service, under a name of their own per provider;
- the controller role ``manager-role`` becomes ``pdn-capi-<provider>``, bound to the user of
  that provider's client certificate only (``pdn:capi:<provider>``).
"""

from __future__ import annotations

import base64
import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pdn import safeload
from pdn.errors import PdnError
from pdn.stacks.crds import CRD_LIMIT, crd_cache_dir, load_pins

WEBHOOK_PORT = 9443
HEALTH_PORT = 9440
MANIFEST_LIMIT = 1024 * 1024


@dataclass(frozen=True)
class Provider:
    """One Cluster API manager: its module and where its ``config/`` folder sits in it."""

    name: str
    module: str
    config: str

    @property
    def user(self) -> str:
        """The user name of the provider's client certificate (and of its role binding)."""
        return f"pdn:capi:{self.name}"

    @property
    def role_name(self) -> str:
        return f"pdn-capi-{self.name}"


PROVIDERS = (
    Provider("core", "sigs.k8s.io/cluster-api", "core/config"),
    Provider("kubeadm-bootstrap", "sigs.k8s.io/cluster-api", "bootstrap/kubeadm/config"),
    Provider("kubeadm-control-plane", "sigs.k8s.io/cluster-api", "controlplane/kubeadm/config"),
    Provider("docker", "sigs.k8s.io/cluster-api/test", "infrastructure/docker/config"),
)


def provider(name: str) -> Provider:
    for candidate in PROVIDERS:
        if candidate.name == name:
            return candidate
    raise PdnError(f"unknown Cluster API provider {name!r}")


def config_dir(item: Provider, root: Path | None = None) -> Path:
    """The provider's ``config/`` folder in the CRD cache (after :func:`pdn.stacks.crds.fetch`)."""
    for pin in load_pins():
        if pin.module == item.module:
            return (root or crd_cache_dir()) / pin.cache_name / item.config
    raise PdnError(f"infra/crds.yaml pins no {item.module}", hint="add it with the provider's config folders")


def _documents(path: Path, limit: int = MANIFEST_LIMIT) -> list[dict[str, Any]]:
    if not path.is_file():
        raise PdnError(f"{path} is missing", hint="run `pdn stacks crds` to fetch the pinned manifests")
    return [doc for doc in safeload.load_yaml_all(path, limit=limit) if isinstance(doc, dict)]


def crds(item: Provider, webhook_url: str, ca_bundle: bytes, root: Path | None = None) -> list[dict[str, Any]]:
    """The provider's CRDs as its kustomization lists them, labelled, with conversion webhooks."""
    folder = config_dir(item, root) / "crd"
    kustomization = _documents(folder / "kustomization.yaml")[0]
    labels: dict[str, str] = {}
    for entry in kustomization.get("labels") or []:
        labels.update({str(k): str(v) for k, v in (entry.get("pairs") or {}).items()})
    found = []
    for resource in kustomization.get("resources") or []:
        for doc in _documents(folder / str(resource), CRD_LIMIT):
            if doc.get("kind") != "CustomResourceDefinition":
                continue
            crd = copy.deepcopy(doc)
            crd.setdefault("metadata", {}).setdefault("labels", {}).update(labels)
            crd["metadata"].pop("annotations", None)  # controller-gen's version stamp only
            if len(crd["spec"].get("versions") or []) > 1:
                crd["spec"]["conversion"] = {
                    "strategy": "Webhook",
                    "webhook": {
                        "conversionReviewVersions": ["v1"],
                        "clientConfig": {
                            "url": f"{webhook_url}/convert",
                            "caBundle": base64.b64encode(ca_bundle).decode("ascii"),
                        },
                    },
                }
            found.append(crd)
    if not found:
        raise PdnError(f"no CRD found for Cluster API provider {item.name} under {folder}")
    return found


def webhook_configurations(
    item: Provider, webhook_url: str, ca_bundle: bytes, root: Path | None = None, namespace: str | None = None
) -> list[dict[str, Any]]:
    """The provider's mutating and validating webhooks, calling ``webhook_url`` (no Service);
    with ``namespace``, only for objects in that namespace (the one the managers watch)."""
    found = []
    for doc in _documents(config_dir(item, root) / "webhook" / "manifests.yaml"):
        kind = doc.get("kind")
        if kind not in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
            continue
        config = copy.deepcopy(doc)
        flavour = "mutating" if kind == "MutatingWebhookConfiguration" else "validating"
        config["metadata"] = {"name": f"{item.role_name}-{flavour}", "labels": {"pdn.go.id/capi": item.name}}
        for webhook in config.get("webhooks") or []:
            service = (webhook.get("clientConfig") or {}).get("service") or {}
            path = service.get("path")
            if not isinstance(path, str) or not path.startswith("/"):
                raise PdnError(f"{item.name}: webhook {webhook.get('name')} has no service path")
            webhook["clientConfig"] = {
                "url": f"{webhook_url}{path}",
                "caBundle": base64.b64encode(ca_bundle).decode("ascii"),
            }
            if namespace is not None:
                webhook["namespaceSelector"] = {"matchLabels": {"kubernetes.io/metadata.name": namespace}}
        found.append(config)
    return found


def rbac(item: Provider, root: Path | None = None) -> list[dict[str, Any]]:
    """``manager-role`` as ``pdn-capi-<provider>`` and its binding to the provider's user only."""
    roles = [
        doc
        for doc in _documents(config_dir(item, root) / "rbac" / "role.yaml")
        if doc.get("kind") == "ClusterRole" and (doc.get("metadata") or {}).get("name") == "manager-role"
    ]
    if len(roles) != 1:
        raise PdnError(f"{item.name}: expected one ClusterRole manager-role in its rbac/role.yaml")
    role = copy.deepcopy(roles[0])
    role["metadata"] = {"name": item.role_name, "labels": {"pdn.go.id/capi": item.name}}
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": item.role_name, "labels": {"pdn.go.id/capi": item.name}},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": item.role_name},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": item.user}],
    }
    return [role, binding]
