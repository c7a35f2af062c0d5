"""Kubernetes access for the drill: one client per lab site, raw JSON reads and writes, Velero objects.

Objects are read and written as plain dictionaries through the client's raw ``call_api``: the drill
compares JSON, and skipping the typed models keeps thousands of objects fast.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

from pdn.errors import PdnError
from pdn.lab import endpoints

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


@cache
def api_client(site_id: str) -> Any:
    """A ``kubernetes`` ApiClient for the site's lab cluster (admin kubeconfig)."""
    from kubernetes import client, config

    configuration = client.Configuration()
    kubeconfig = str(endpoints.kubeconfig_path(site_id))
    config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)  # type: ignore[no-untyped-call]
    configuration.connection_pool_maxsize = 32
    configuration.retries = 1
    return client.ApiClient(configuration)


def request(
    site_id: str,
    method: str,
    path: str,
    body: Any = None,
    query: list[tuple[str, str]] | None = None,
    timeout: float = 30,
) -> Any:
    """One raw JSON request; raises the client's ApiException (``.status``) on HTTP errors."""
    from kubernetes.client.exceptions import ApiException

    api = api_client(site_id)
    verb, url, headers, payload, _ = api.param_serialize(
        method,
        path,
        query_params=query or [],
        header_params={"Accept": "application/json", "Content-Type": "application/json"},
        body=body,
        auth_settings=["BearerToken"],
    )
    response = api.call_api(verb, url, header_params=headers, body=payload, _request_timeout=timeout)
    data = response.read()
    if not 200 <= response.status < 300:
        ApiException.from_response(http_resp=response, body=data.decode(errors="replace") if data else None, data=None)
    return json.loads(data) if data else None


def status_code(error: Exception) -> int | None:
    return getattr(error, "status", None)


def reachable(site_id: str) -> str | None:
    """``None`` when the site's API server answers ``/version``, else the reason."""
    try:
        request(site_id, "GET", "/version", timeout=5)
    except Exception as error:  # connection refused, TLS, timeout: all mean "cannot reach"
        lines = str(error).splitlines() or [""]
        return f"{type(error).__name__}: {lines[0][:200]}"
    return None


def get(site_id: str, path: str) -> dict[str, Any] | None:
    """The object at ``path``, or ``None`` when it does not exist."""
    from kubernetes.client.exceptions import ApiException

    try:
        found: dict[str, Any] = request(site_id, "GET", path)
    except ApiException as error:
        if error.status == 404:
            return None
        raise
    return found


def list_items(site_id: str, path: str, label_selector: str | None = None) -> list[dict[str, Any]]:
    query = [("labelSelector", label_selector)] if label_selector else []
    reply = request(site_id, "GET", path, query=query)
    items: list[dict[str, Any]] = reply.get("items", [])
    return items


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
    from kubernetes.client.exceptions import ApiException

    if obj["kind"] == "Namespace":
        path = "/api/v1/namespaces"
    else:
        path = KINDS_BY_NAME[obj["kind"]].collection(obj["metadata"]["namespace"])
    try:
        request(site_id, "POST", path, obj)
    except ApiException as error:
        if error.status != 409:
            reason = _reason(error)
            raise PdnError(f"{site_id}: creating {obj['kind']}/{obj['metadata']['name']} failed: {reason}") from None


def _reason(error: Any) -> str:
    try:
        return str(json.loads(error.body).get("message", error.reason))
    except (TypeError, ValueError):
        return str(getattr(error, "reason", error))


def delete_namespace(site_id: str, name: str) -> bool:
    """Ask for the namespace's deletion (the namespace controller finishes it); True if it existed."""
    from kubernetes.client.exceptions import ApiException

    try:
        request(site_id, "DELETE", f"/api/v1/namespaces/{name}")
    except ApiException as error:
        if error.status == 404:
            return False
        raise
    return True


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
    from kubernetes.client.exceptions import ApiException

    try:
        request(site_id, "DELETE", velero_path(plural, name))
    except ApiException as error:
        if error.status != 404:
            raise
