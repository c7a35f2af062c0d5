"""Velero's node agent on a site's real nodes: file-system backups of pod volumes with Kopia.

The Velero server runs outside the cluster (:mod:`pdn.backup.velero`), but volume data can only be
read where the volumes are: on the nodes. So each real-node site runs Velero's node agent as a
DaemonSet in the ``velero`` namespace, from the locally built ``localhost/pdn/velero:lab`` image
(:mod:`pdn.nodes.podimages`). For each PodVolumeBackup or PodVolumeRestore the agent starts a
short-lived data-mover pod on the same node (Velero 1.18's micro-service design), which inherits
the agent's service account, volumes and environment and moves the data between the pod's volume
and the Kopia repository in the partner's locked bucket.

What Velero's own install does differently, and why:

- **RBAC**: ``velero install`` binds the agent to ``cluster-admin``. Here it gets a ClusterRole
  that only reads (the agent's controller-runtime cache lists pods, claims, volumes, nodes, secrets
  and configmaps cluster-wide, with field selectors) and a Role that writes only in ``velero``
  (its data-mover pods, Velero's own objects, events). It still reads every pod volume on its node
  as root: that is what a file-system backup is.
- **Listeners**: the agent's metrics server is bound to the pod's loopback; controller-runtime's
  ``:8080`` metrics server is compiled out (``toolchain.lock``).
- **Images never pulled**: ``imagePullPolicy: Never``; the archive is imported into every node.
"""

from __future__ import annotations

import json
from typing import Any

from pdn import kube
from pdn.errors import PdnError
from pdn.nodes.podimages import VELERO_IMAGE
from pdn.wait import wait_until

NAMESPACE = "velero"
NAME = "node-agent"  # Velero finds its agent by this DaemonSet name and the pod label role=node-agent
ACCOUNT = "velero-node-agent"
FIELD_MANAGER = "pdn-backup"
READY_TIMEOUT = 240.0
CONFIG = "node-agent-config"
#: Pod volumes each node moves at once (Velero's default is one: twenty apps restored one after
#: another took longer than the drill's restore timeout).
LOAD_CONCURRENCY = 4
LABELS = {"app.kubernetes.io/name": "velero", "app.kubernetes.io/component": NAME,
          "app.kubernetes.io/managed-by": "pdn-backup"}  # fmt: skip
READ = ["get", "list", "watch"]
WRITE = ["get", "list", "watch", "create", "update", "patch", "delete"]


def _meta(name: str, namespaced: bool = True) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": dict(LABELS)}
    if namespaced:
        meta["namespace"] = NAMESPACE
    return meta


def rbac() -> list[dict[str, Any]]:
    """Service account, a read-only ClusterRole and a Role that writes only in ``velero``."""
    subject = [{"kind": "ServiceAccount", "name": ACCOUNT, "namespace": NAMESPACE}]
    cluster_role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": _meta(f"pdn-{ACCOUNT}", namespaced=False),
        "rules": [
            {
                "apiGroups": [""],
                "verbs": READ,
                "resources": [
                    "pods",
                    "persistentvolumeclaims",
                    "persistentvolumes",
                    "nodes",
                    "secrets",
                    "configmaps",
                    "events",
                    "namespaces",
                ],
            },
            {"apiGroups": ["storage.k8s.io"], "resources": ["storageclasses", "csidrivers", "csinodes"], "verbs": READ},
            {"apiGroups": ["velero.io"], "resources": ["*"], "verbs": READ},
        ],
    }
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": _meta(ACCOUNT),
        "rules": [
            {"apiGroups": [""], "resources": ["pods", "persistentvolumeclaims", "events"], "verbs": WRITE},
            {"apiGroups": ["velero.io"], "resources": ["*"], "verbs": WRITE},
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": WRITE},
            # Data-mover pods inherit the agent's volumes and environment from its DaemonSet.
            {"apiGroups": ["apps"], "resources": ["daemonsets"], "verbs": READ},
        ],
    }
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(ACCOUNT)},
        cluster_role,
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": _meta(f"pdn-{ACCOUNT}", namespaced=False),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": f"pdn-{ACCOUNT}"},
            "subjects": subject,
        },
        role,
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": _meta(ACCOUNT),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": ACCOUNT},
            "subjects": subject,
        },
    ]


def pod_environment() -> list[dict[str, Any]]:
    """What the agent, and so every data-mover pod (they inherit it), gets."""
    return [
        {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "VELERO_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "VELERO_SCRATCH_DIR", "value": "/scratch"},
        {"name": "HOME", "value": "/scratch"},  # Kopia's cache and config
        {"name": "TMPDIR", "value": "/tmp"},  # the locations' credential files
    ]


def scratch_volumes() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    volumes = [{"name": "scratch", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}]
    mounts = [{"name": "scratch", "mountPath": "/scratch"}, {"name": "tmp", "mountPath": "/tmp"}]
    return volumes, mounts


def daemonset() -> dict[str, Any]:
    """Velero's node agent, as ``velero install --use-node-agent`` would make it, with the changes above."""
    scratch, scratch_mounts = scratch_volumes()
    propagation = "HostToContainer"
    labels = {**LABELS, "name": NAME, "role": NAME}
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": _meta(NAME),
        "spec": {
            "selector": {"matchLabels": {"name": NAME}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "serviceAccountName": ACCOUNT,
                    "securityContext": {"runAsUser": 0, "seccompProfile": {"type": "RuntimeDefault"}},
                    "terminationGracePeriodSeconds": 10,
                    "volumes": [
                        {"name": "host-pods", "hostPath": {"path": "/var/lib/kubelet/pods"}},
                        {"name": "host-plugins", "hostPath": {"path": "/var/lib/kubelet/plugins"}},
                        *scratch,
                    ],
                    "containers": [
                        {
                            "name": NAME,
                            "image": VELERO_IMAGE,
                            "imagePullPolicy": "Never",
                            "command": ["/velero"],
                            "args": [
                                *("node-agent", "server", "--metrics-address=127.0.0.1:8085", "--log-level=info"),
                                f"--node-agent-configmap={CONFIG}",
                            ],
                            "env": pod_environment(),
                            "volumeMounts": [
                                {"name": "host-pods", "mountPath": "/host_pods", "mountPropagation": propagation},
                                {
                                    "name": "host-plugins",
                                    "mountPath": "/var/lib/kubelet/plugins",
                                    "mountPropagation": propagation,
                                },
                                *scratch_mounts,
                            ],
                            "securityContext": {"privileged": False, "readOnlyRootFilesystem": True},
                            "resources": {
                                "requests": {"cpu": "20m", "memory": "64Mi"},
                                "limits": {"memory": "1Gi"},
                            },
                        }
                    ],
                },
            },
        },
    }


def config() -> dict[str, Any]:
    """The agent's ConfigMap (``--node-agent-configmap``): one JSON document, Velero's format."""
    document = {"loadConcurrency": {"globalConfig": LOAD_CONCURRENCY}}
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(CONFIG),
        "data": {"node-agent.json": json.dumps(document)},
    }


def restore_helper_config() -> dict[str, Any]:
    """What Velero gives the ``restore-wait`` init container it adds to every restored pod with
    volume data: by default 100m CPU and 128Mi, so twenty restored apps asked more CPU than a lab
    node has (the helper only waits for a file). Velero finds it by its two labels."""
    labels = {**LABELS, "velero.io/plugin-config": "", "velero.io/pod-volume-restore": "RestoreItemAction"}
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "fs-restore-action-config", "namespace": NAMESPACE, "labels": labels},
        "data": {"cpuRequest": "5m", "memRequest": "16Mi", "cpuLimit": "100m", "memLimit": "64Mi"},
    }


def manifests() -> list[dict[str, Any]]:
    return [*rbac(), config(), restore_helper_config(), daemonset()]


def ensure(site_id: str, timeout: float = READY_TIMEOUT) -> int:
    """Apply the agent to the site (server-side apply: re-runs change nothing) and wait until one
    agent is Ready on every schedulable node; returns that number."""
    client = kube.site(site_id)
    for manifest in manifests():
        client.apply(manifest, field_manager=FIELD_MANAGER, force=True)
    path = f"/apis/apps/v1/namespaces/{NAMESPACE}/daemonsets/{NAME}"

    def status() -> dict[str, Any]:
        return dict((client.get(path) or {}).get("status") or {})

    def ready(seen: dict[str, Any]) -> bool:
        wanted = int(seen.get("desiredNumberScheduled") or 0)
        return wanted > 0 and int(seen.get("numberReady") or 0) == wanted and int(
            seen.get("updatedNumberScheduled") or 0) == wanted  # fmt: skip

    seen = wait_until(
        f"{site_id}'s Velero node agents to be Ready on every node", status, ready, timeout=timeout, interval=1.0,
        describe=lambda s: f"{s.get('numberReady', 0)}/{s.get('desiredNumberScheduled', 0)} ready",
        hint=f"kubectl -n {NAMESPACE} logs ds/{NAME} (pdn lab env first)",
    )  # fmt: skip
    count = int(seen.get("numberReady") or 0)
    if count == 0:
        raise PdnError(f"{site_id} has no node for Velero's node agent")
    return count
