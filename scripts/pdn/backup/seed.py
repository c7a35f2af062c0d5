"""Representative tenant workloads for a drill: a deterministic mix of the kinds tenants declare.

Every block of 20 objects holds 7 ConfigMaps, 4 Secrets, 3 Services, 2 Deployments, one
ServiceAccount, Role, RoleBinding and NetworkPolicy, with realistic payloads (about 1 KiB of
configuration per ConfigMap, binary secret data, restricted pod templates that pass the tenant
namespaces' Pod Security Admission ``restricted`` level). The same count always gives the same
objects, so runs compare.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pdn.backup import kube

DRILL_LABEL = "pdn.go.id/drill"
BLOCK = (
    ("ConfigMap", 7),
    ("Secret", 4),
    ("Service", 3),
    ("Deployment", 2),
    ("ServiceAccount", 1),
    ("Role", 1),
    ("RoleBinding", 1),
    ("NetworkPolicy", 1),
)
CYCLE = [kind for kind, count in BLOCK for _ in range(count)]


def _digest(*parts: object) -> str:
    return hashlib.sha256("/".join(str(part) for part in parts).encode()).hexdigest()


def _meta(name: str, namespace: str, app: str, run_id: str) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": namespace,
        "labels": {"app.kubernetes.io/name": app, "app.kubernetes.io/part-of": "drill", DRILL_LABEL: run_id},
        "annotations": {"pdn.go.id/owner": f"team-{app}"},
    }


def _pod_template(app: str) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app.kubernetes.io/name": app}},
        "spec": {
            "automountServiceAccountToken": False,
            "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    "name": "app",
                    "image": f"registry.pdn.go.id/{app}:1.4.2",
                    "ports": [{"containerPort": 8080, "name": "http"}],
                    "env": [{"name": "APP_MODE", "value": "production"}],
                    "resources": {
                        "requests": {"cpu": "50m", "memory": "64Mi"},
                        "limits": {"cpu": "200m", "memory": "128Mi"},
                    },
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "readOnlyRootFilesystem": True,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }
            ],
        },
    }


def _object(kind: str, index: int, namespace: str, run_id: str) -> dict[str, Any]:
    app = f"app-{index // 20:04d}"
    name = f"{kind.lower()}-{index:05d}"
    meta = _meta(name, namespace, app, run_id)
    api_version = kube.KINDS_BY_NAME[kind].api_version
    obj: dict[str, Any] = {"apiVersion": api_version, "kind": kind, "metadata": meta}
    if kind == "ConfigMap":
        settings = {"app": app, "replicas": 2, "features": [f"f{n}" for n in range(8)], "salt": _digest(index)}
        obj["data"] = {
            "application.json": json.dumps(settings, indent=2) + "\n" + "#" * 600,
            "LOG_LEVEL": "info",
            "DB_HOST": f"db-{app}.{namespace}.svc",
        }
    elif kind == "Secret":
        obj["type"] = "Opaque"
        obj["data"] = {
            "password": base64.b64encode(bytes.fromhex(_digest("pw", index))).decode(),
            "tls.key": base64.b64encode(_digest("key", index).encode() * 8).decode(),
        }
    elif kind == "Service":
        obj["spec"] = {
            "type": "ClusterIP",
            "selector": {"app.kubernetes.io/name": app},
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        }
    elif kind == "Deployment":
        obj["spec"] = {
            "replicas": 1,
            "selector": {"matchLabels": {"app.kubernetes.io/name": app}},
            "template": _pod_template(app),
        }
    elif kind == "ServiceAccount":
        obj["automountServiceAccountToken"] = False
    elif kind == "Role":
        obj["rules"] = [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]}]
    elif kind == "RoleBinding":
        role = f"role-{index - index % 20 + CYCLE.index('Role'):05d}"
        obj["roleRef"] = {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role}
        obj["subjects"] = [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": f"pdn:tenant:{app}"}]
    elif kind == "NetworkPolicy":
        obj["spec"] = {
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": app}},
            "policyTypes": ["Ingress"],
            "ingress": [{"ports": [{"port": 8080, "protocol": "TCP"}]}],
        }
    return obj


def workloads(namespace: str, count: int, run_id: str) -> list[dict[str, Any]]:
    """``count`` objects in ``namespace``, labelled ``pdn.go.id/drill=<run_id>``."""
    return [_object(CYCLE[index % len(CYCLE)], index, namespace, run_id) for index in range(count)]


def drill_namespace(name: str, source: str, run_id: str) -> dict[str, Any]:
    """A synthetic tenant namespace for seeded objects (labels as the stacks give real tenants)."""
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "labels": {
                "pdn.go.id/tenant": "drill",
                "pdn.go.id/site": source,
                "pdn.go.id/tier": "low",
                "pdn.go.id/classification": "internal",
                DRILL_LABEL: run_id,
                **{f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "audit", "warn")},
            },
        },
    }


def apply(site_id: str, objects: list[dict[str, Any]], progress: Callable[[int], None] | None = None) -> None:
    """Create ``objects`` on the site with a few parallel requests (existing ones are kept)."""
    advance: Callable[[int], None] = progress or (lambda _n: None)
    with ThreadPoolExecutor(max_workers=8) as pool:
        for _ in pool.map(lambda obj: kube.create(site_id, obj), objects):
            advance(1)
