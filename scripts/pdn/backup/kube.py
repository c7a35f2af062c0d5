"""What the drill reads and writes in Kubernetes: the compared kinds, tenant objects, Velero objects.

Requests go through :mod:`pdn.kube` (plain JSON dictionaries: the drill compares JSON, and
skipping the typed models keeps thousands of objects fast).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pdn import kube
from pdn.errors import PdnError
from pdn.kube import KubeError

VELERO_GROUP = "velero.io"
VELERO_VERSION = "v1"


@dataclass(frozen=True)
class Kind:
    """A namespaced kind the drill backs up and compares."""

    kind: str
    group: str
    version: str
    plural: str

    def collection(self, namespace: str) -> str:
        prefix = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        return f"{prefix}/namespaces/{namespace}/{self.plural}"

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


# What a tenant declares; derived objects (pods, replica sets, endpoints, events) are left out:
# their controllers rebuild them on the partner.
COMPARED_KINDS = (
    Kind("ConfigMap", "", "v1", "configmaps"),
    Kind("Secret", "", "v1", "secrets"),
    Kind("Service", "", "v1", "services"),
    Kind("ServiceAccount", "", "v1", "serviceaccounts"),
    Kind("PersistentVolumeClaim", "", "v1", "persistentvolumeclaims"),
    Kind("ResourceQuota", "", "v1", "resourcequotas"),
    Kind("LimitRange", "", "v1", "limitranges"),
    Kind("Deployment", "apps", "v1", "deployments"),
    Kind("StatefulSet", "apps", "v1", "statefulsets"),
    Kind("DaemonSet", "apps", "v1", "daemonsets"),
    Kind("CronJob", "batch", "v1", "cronjobs"),
    Kind("Role", "rbac.authorization.k8s.io", "v1", "roles"),
    Kind("RoleBinding", "rbac.authorization.k8s.io", "v1", "rolebindings"),
    Kind("NetworkPolicy", "networking.k8s.io", "v1", "networkpolicies"),
    Kind("Ingress", "networking.k8s.io", "v1", "ingresses"),
    Kind("HorizontalPodAutoscaler", "autoscaling", "v2", "horizontalpodautoscalers"),
    Kind("PodDisruptionBudget", "policy", "v1", "poddisruptionbudgets"),
)
KINDS_BY_NAME = {kind.kind: kind for kind in COMPARED_KINDS}
# Objects every namespace gets from the cluster itself, different on every cluster by design.
CLUSTER_OWNED = {("ConfigMap", "kube-root-ca.crt"), ("ServiceAccount", "default")}


def request(
    site_id: str,
    method: str,
    path: str,
    body: Any = None,
    query: list[tuple[str, str]] | None = None,
    timeout: float = 30,
) -> Any:
    """One JSON request to the site's cluster; raises :class:`pdn.kube.KubeError` (``.status``)."""
    return kube.site(site_id).request(method, path, body, query=query or (), timeout=timeout)


def reachable(site_id: str) -> str | None:
    """``None`` when the site's API server answers ``/version``, else the reason."""
    return kube.site(site_id).reachable()


def get(site_id: str, path: str) -> dict[str, Any] | None:
    """The object at ``path``, or ``None`` when it does not exist."""
    return kube.site(site_id).get(path)


def list_items(site_id: str, path: str, label_selector: str | None = None) -> list[dict[str, Any]]:
    return kube.site(site_id).list_items(path, label_selector)


def namespace_objects(site_id: str, namespace: str) -> list[dict[str, Any]]:
    """Every object of the compared kinds in ``namespace`` except cluster-owned and derived ones."""
    found: list[dict[str, Any]] = []
    for kind in COMPARED_KINDS:
        for item in list_items(site_id, kind.collection(namespace)):
            item["kind"], item["apiVersion"] = kind.kind, kind.api_version
            name = item.get("metadata", {}).get("name", "")
            if (kind.kind, name) in CLUSTER_OWNED or item.get("metadata", {}).get("ownerReferences"):
                continue
            found.append(item)
    return found


def namespace(site_id: str, name: str) -> dict[str, Any] | None:
    found = get(site_id, f"/api/v1/namespaces/{name}")
    if found is not None:
        found["kind"], found["apiVersion"] = "Namespace", "v1"
    return found


def create(site_id: str, obj: dict[str, Any]) -> None:
    """Create ``obj`` (a namespace or a namespaced object of a compared kind); existing ones are kept."""
    if obj["kind"] == "Namespace":
        path = "/api/v1/namespaces"
    else:
        path = KINDS_BY_NAME[obj["kind"]].collection(obj["metadata"]["namespace"])
    try:
        kube.site(site_id).create(path, obj)
    except KubeError as error:
        raise PdnError(f"{site_id}: creating {obj['kind']}/{obj['metadata']['name']} failed: {error}") from None


def delete_namespace(site_id: str, name: str) -> bool:
    """Ask for the namespace's deletion (the namespace controller finishes it); True if it existed."""
    return kube.site(site_id).delete(f"/api/v1/namespaces/{name}")


def delete_labelled(site_id: str, namespace: str, selector: str, kinds: Iterable[Kind] = COMPARED_KINDS) -> None:
    """Delete the objects carrying ``selector`` in ``namespace`` (seeded objects in a real tenant)."""
    for kind in kinds:
        if kind.kind == "Service":  # services have no collection delete
            for item in list_items(site_id, kind.collection(namespace), selector):
                request(site_id, "DELETE", f"{kind.collection(namespace)}/{item['metadata']['name']}")
            continue
        request(site_id, "DELETE", kind.collection(namespace), query=[("labelSelector", selector)])


def velero_path(plural: str, name: str | None = None, namespace: str = "velero") -> str:
    path = f"/apis/{VELERO_GROUP}/{VELERO_VERSION}/namespaces/{namespace}/{plural}"
    return f"{path}/{name}" if name else path


def velero_create(site_id: str, plural: str, obj: dict[str, Any]) -> dict[str, Any]:
    created: dict[str, Any] = request(site_id, "POST", velero_path(plural), obj)
    return created


def velero_get(site_id: str, plural: str, name: str) -> dict[str, Any] | None:
    return get(site_id, velero_path(plural, name))


def velero_list(site_id: str, plural: str) -> list[dict[str, Any]]:
    return list_items(site_id, velero_path(plural))


def velero_delete(site_id: str, plural: str, name: str) -> None:
    kube.site(site_id).delete(velero_path(plural, name))
