"""The cluster add-ons of a site with real nodes, built as data and applied server-side.

kube-proxy and CoreDNS come from kubeadm's own add-on phases (``pdn.lab.realnodes``); this module
adds what kubeadm leaves to the user — the pod network, kube-router — and adjusts the two add-ons
for the lab: they run on real nodes only (never on kwok's fake ones), and CoreDNS answers for the
cluster only (no ``forward``: nothing outside the lab is ever asked). Volumes come from
local-path-provisioner (``apply_storage_addon``): the default StorageClass ``local-path`` makes a
folder on the node a claim's pod is scheduled to, and removes it with the claim.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography import x509

from pdn import kube
from pdn.lab import layout, sitenet
from pdn.sites import Site
from pdn.wait import wait_until

KUBE_SYSTEM = "kube-system"
REAL_NODES = {"pdn.go.id/node-kind": "real"}
FIELD_MANAGER = "pdn-lab"
KUBELET_CLIENT = "kube-apiserver-kubelet-client"

#: CoreDNS for the cluster's own names only: the lab has no upstream resolver to ask.
COREFILE = """.:53 {
    errors
    health {
       lameduck 5s
    }
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    prometheus 127.0.0.1:9153
    cache 30
    reload
    loadbalance
}
"""


@dataclass(frozen=True)
class NodeState:
    name: str
    address: str
    ready: bool
    kubelet: str
    runtime: str


def kube_router_objects(site: Site, image: str) -> list[dict[str, Any]]:
    """kube-router for a lab site's real nodes: the API server at the site network's bridge."""
    return kube_router_manifest(
        image, sitenet.gateway(site.id), layout.port(site.id, "kube-apiserver"), node_selector=REAL_NODES
    )


def kube_router_manifest(
    image: str, api_host: str, api_port: int, node_selector: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """kube-router's service account, RBAC and DaemonSet (upstream's kubeadm manifest, as data),
    reaching the API server at ``api_host:api_port``; on the nodes ``node_selector`` picks."""
    labels = {"k8s-app": "kube-router", "tier": "node"}
    read = ["get", "list", "watch"]
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "kube-router"},
        "rules": [
            {"apiGroups": [""], "resources": ["namespaces", "pods", "services", "nodes", "endpoints"], "verbs": read},
            {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": read},
            {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": read},
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "create", "update"]},
            {"apiGroups": [""], "resources": ["services/status"], "verbs": ["update"]},
        ],
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "kube-router"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "kube-router"},
        "subjects": [{"kind": "ServiceAccount", "name": "kube-router", "namespace": KUBE_SYSTEM}],
    }
    account = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "kube-router", "namespace": KUBE_SYSTEM},
    }
    args = [
        "--run-router=true",
        "--run-firewall=true",
        "--run-service-proxy=false",  # kube-proxy (nftables mode) serves Services
        "--bgp-graceful-restart=true",
        "--enable-ibgp=true",
        "--enable-overlay=false",  # one L2 lab network per site: direct routes between nodes
        "--enable-pod-egress=false",  # pdn-node-network masquerades pod egress in nftables
        "--enable-cni=true",
        "--health-port=20244",
        "--metrics-port=0",
    ]
    env = [
        {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "KUBE_ROUTER_CNI_CONF_FILE", "value": "/etc/cni/net.d/10-kuberouter.conflist"},
        # The API server as nodes reach it (the in-cluster service needs kube-proxy, which needs
        # the pod network kube-router is about to set up).
        {"name": "KUBERNETES_SERVICE_HOST", "value": api_host},
        {"name": "KUBERNETES_SERVICE_PORT", "value": str(api_port)},
    ]
    host_paths = {
        "cni-conf-dir": ("/etc/cni/net.d", "/etc/cni/net.d", "Directory"),
        "xtables-lock": ("/run/xtables.lock", "/run/xtables.lock", "FileOrCreate"),
    }
    daemonset = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "kube-router", "namespace": KUBE_SYSTEM, "labels": labels},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "priorityClassName": "system-node-critical",
                    "serviceAccountName": "kube-router",
                    "hostNetwork": True,
                    "hostPID": True,
                    **({"nodeSelector": node_selector} if node_selector else {}),
                    "tolerations": [
                        {"operator": "Exists", "effect": "NoSchedule"},
                        {"operator": "Exists", "effect": "NoExecute"},
                    ],
                    "containers": [
                        {
                            "name": "kube-router",
                            "image": image,
                            "imagePullPolicy": "Never",
                            "args": args,
                            "env": env,
                            "securityContext": {"privileged": True},
                            "livenessProbe": {
                                "httpGet": {"path": "/healthz", "port": 20244},
                                "initialDelaySeconds": 10,
                                "periodSeconds": 5,
                            },
                            "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}},
                            "volumeMounts": [
                                {"name": name, "mountPath": mount} for name, (_, mount, _) in host_paths.items()
                            ],
                        }
                    ],
                    "volumes": [
                        {"name": name, "hostPath": {"path": path, "type": kind}}
                        for name, (path, _, kind) in host_paths.items()
                    ],
                },
            },
        },
    }
    return [account, role, binding, daemonset]


def kubelet_client_binding() -> dict[str, Any]:
    """Lets the API server reach kubelets (logs, exec) with its client certificate, and nothing more."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "pdn:apiserver-kubelet-client"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:kubelet-api-admin"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": KUBELET_CLIENT}],
    }


def apply_network_addons(site: Site) -> None:
    """kube-router, the kubelet-client binding, and the lab's changes to kubeadm's add-ons."""
    from pdn.nodes.podimages import pod_images

    images = {image.recipe: image.name for image in pod_images(site.kubernetes.version)}
    client = kube.site(site.id)
    for body in [kubelet_client_binding(), *kube_router_objects(site, images["kube-router"])]:
        client.apply(body, field_manager=FIELD_MANAGER, force=True)
    client.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "coredns", "namespace": KUBE_SYSTEM},
            "data": {"Corefile": COREFILE},
        },
        field_manager=FIELD_MANAGER,
        force=True,
    )
    for kind, name in (("DaemonSet", "kube-proxy"), ("Deployment", "coredns")):
        client.apply(
            {
                "apiVersion": "apps/v1",
                "kind": kind,
                "metadata": {"name": name, "namespace": KUBE_SYSTEM},
                "spec": {"template": {"spec": {"nodeSelector": REAL_NODES}}},
            },
            field_manager=FIELD_MANAGER,
            force=True,
        )


def approve_serving_certificates(
    site: Site, nodes: dict[str, str], timeout: float, since: datetime, client: kube.Kube | None = None
) -> int:
    """Approve the kubelet serving-certificate requests of the site's own new nodes.

    kubelets ask for their serving certificate through a CSR (``serverTLSBootstrap``), which
    Kubernetes never approves by itself; the lab approves a request only when it comes from one of
    ``nodes`` (name -> address) and asks for nothing but that node's own name and address (what an
    operator or a kubelet-CSR approver checks), so that the API server verifies kubelets against
    the site CA. Only requests made at or after ``since`` (the join) count: a node made again
    under the name of a removed one has a new key, and the old node's approved request would
    otherwise pass for its certificate (its kubelet then answered logs and exec with a TLS error).
    ``client``: the cluster the nodes joined (default: the site's lab cluster).
    """
    client = client or kube.site(site.id)
    allowed = {name: ServingNode({name, address}, since) for name, address in nodes.items()}

    def pending() -> list[str]:
        served = approve_serving_requests(client, allowed, "PdnLabNode", "a node of this lab site")
        return sorted(f"system:node:{name}" for name in set(nodes) - served)

    wait_until(f"{site.id}: kubelet serving certificates of {', '.join(nodes)}", pending, lambda left: not left,
               timeout=timeout, interval=1, describe=lambda left: "no request yet from " + ", ".join(left),
               retry_on=(kube.KubeError,))  # fmt: skip
    return len(nodes)


@dataclass(frozen=True)
class ServingNode:
    """What a node's kubelet may ask a serving certificate for, and since when it may ask."""

    names: set[str]
    since: datetime


def approve_serving_requests(client: kube.Kube, nodes: dict[str, ServingNode], reason: str, message: str) -> set[str]:
    """Approve every pending kubelet serving-certificate request of ``nodes`` (node name -> what it
    may ask for) made at or after its ``since`` and asking for nothing else; return the nodes that
    have an approved request of that age (approved now or before)."""
    where = kube.path("certificates.k8s.io/v1", "certificatesigningrequests")
    served: set[str] = set()
    for request in client.list_items(where):
        name = str(request["spec"].get("username", "")).removeprefix("system:node:")
        node = nodes.get(name)
        if node is None or not _is_serving(request) or request["spec"]["username"] != f"system:node:{name}":
            continue
        if _created(request) < node.since.astimezone(UTC).replace(microsecond=0):  # whole seconds
            continue
        if _approved(request):
            served.add(name)
        elif _names(request) <= node.names:
            request.setdefault("status", {})["conditions"] = [
                {"type": "Approved", "status": "True", "reason": reason, "message": message}
            ]
            client.request("PUT", f"{where}/{request['metadata']['name']}/approval", request)
            served.add(name)
    return served


def _created(request: dict[str, Any]) -> datetime:
    return kube.parse_time(str(request["metadata"]["creationTimestamp"]))


def _names(request: dict[str, Any]) -> set[str]:
    """The DNS names and IP addresses a certificate signing request asks for."""
    csr = x509.load_pem_x509_csr(base64.b64decode(request["spec"]["request"]))
    try:
        sans = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    return {*sans.get_values_for_type(x509.DNSName), *(str(ip) for ip in sans.get_values_for_type(x509.IPAddress))}


def _is_serving(request: dict[str, Any]) -> bool:
    return bool(request["spec"].get("signerName") == "kubernetes.io/kubelet-serving")


def _approved(request: dict[str, Any]) -> bool:
    conditions = (request.get("status") or {}).get("conditions") or []
    return any(condition.get("type") == "Approved" for condition in conditions)


def node_states(site: Site) -> list[NodeState]:
    """Every real node of the site as the API server sees it."""
    selector = ",".join(f"{key}={value}" for key, value in REAL_NODES.items())
    states = []
    for item in kube.site(site.id).list_items(kube.path("v1", "nodes"), label_selector=selector):
        status = item.get("status") or {}
        conditions = {c["type"]: c["status"] for c in status.get("conditions") or []}
        addresses = {a["type"]: a["address"] for a in status.get("addresses") or []}
        info = status.get("nodeInfo") or {}
        states.append(
            NodeState(
                item["metadata"]["name"],
                addresses.get("InternalIP", ""),
                conditions.get("Ready") == "True",
                str(info.get("kubeletVersion", "")),
                str(info.get("containerRuntimeVersion", "")),
            )
        )
    return sorted(states, key=lambda state: state.name)


def wait_nodes_ready(site: Site, names: list[str], timeout: float) -> None:
    """Wait until every node of ``names`` is Ready; one clear error naming the others otherwise."""

    def not_ready() -> list[str]:
        states = {state.name: state for state in node_states(site)}
        return [name for name in names if not (name in states and states[name].ready)]

    wait_until(
        f"{site.id}: nodes {', '.join(names)} Ready",
        not_ready,
        lambda waiting: not waiting,
        timeout=timeout,
        interval=2,
        describe=lambda waiting: "not Ready: " + ", ".join(waiting),
        retry_on=(kube.KubeError,),
        hint=f"podman exec {names[0]} journalctl -u kubelet --no-pager | tail" if names else None,
    )


# --- Storage: local-path-provisioner, the dynamic volume provisioner of real-node sites ---

LOCAL_PATH_NAMESPACE = "local-path-storage"
LOCAL_PATH = "local-path-provisioner"
LOCAL_PATH_CONFIG = "local-path-config"
STORAGE_CLASS = "local-path"
PROVISIONER_NAME = "rancher.io/local-path"
#: Where volumes live inside each node container (one folder per claim, removed with it).
LOCAL_PATH_DIR = "/var/lib/pdn/local-path"
CONFIG_MOUNT = "/etc/config"
#: The helper pod's own copy of the setup and teardown scripts (see local_path_config).
HELPER_SCRIPTS = "/pdn-local-path"
READY_STORAGE_TIMEOUT = 180.0

#: Both scripts refuse any folder but one directly under LOCAL_PATH_DIR before they touch it.
_GUARD = f"""case "$VOL_DIR" in
  {LOCAL_PATH_DIR}/*/*|*..*) echo "refusing $VOL_DIR" >&2; exit 2 ;;
  {LOCAL_PATH_DIR}/?*) ;;
  *) echo "refusing $VOL_DIR" >&2; exit 2 ;;
esac
"""
#: 0700 root: the kubelet gives a ``local`` volume the pod's fsGroup (group rwx, setgid) at mount,
#: so the claim's pod can write it and nobody else on the node can read it.
SETUP_SCRIPT = f'#!/bin/busybox sh\nset -eu\n{_GUARD}/bin/busybox mkdir -p -m 0700 "$VOL_DIR"\n'
TEARDOWN_SCRIPT = f'#!/bin/busybox sh\nset -eu\n{_GUARD}/bin/busybox rm -rf "$VOL_DIR"\n'


def _local_path_rbac() -> list[dict[str, Any]]:
    """What the provisioner calls, read from its v0.0.30 source, and nothing more.

    Cluster-wide: watch claims, classes and volumes, create and delete volumes, read the node a
    claim was scheduled to, record events on claims; ``update`` on claims only lets it hand a claim
    back to the scheduler after a failed provisioning. In its own namespace: create, read and delete
    its helper pods and read their logs. It reads its ConfigMap as mounted files (``--config``,
    ``--helper-pod-file``), so it needs no ConfigMap access; it runs without leader election (one
    replica, ``Recreate``), so it needs no leases or endpoints.
    """
    read = ["get", "list", "watch"]
    subject = [{"kind": "ServiceAccount", "name": LOCAL_PATH, "namespace": LOCAL_PATH_NAMESPACE}]
    role_ref = {"apiGroup": "rbac.authorization.k8s.io", "name": LOCAL_PATH}
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": LOCAL_PATH},
            "rules": [
                {"apiGroups": [""], "resources": ["persistentvolumes"], "verbs": [*read, "create", "patch", "delete"]},
                {"apiGroups": [""], "resources": ["persistentvolumeclaims"], "verbs": [*read, "update"]},
                {"apiGroups": ["storage.k8s.io"], "resources": ["storageclasses"], "verbs": read},
                {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]},
                {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": LOCAL_PATH},
            "roleRef": {**role_ref, "kind": "ClusterRole"},
            "subjects": subject,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": LOCAL_PATH, "namespace": LOCAL_PATH_NAMESPACE},
            "rules": [
                {"apiGroups": [""], "resources": ["pods"], "verbs": ["create", "get", "delete"]},
                {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": LOCAL_PATH, "namespace": LOCAL_PATH_NAMESPACE},
            "roleRef": {**role_ref, "kind": "Role"},
            "subjects": subject,
        },
    ]


def helper_pod_template(busybox: str) -> dict[str, Any]:
    """The pod that creates and removes a claim's folder on its node.

    The provisioner adds the node, the hostPath of LOCAL_PATH_DIR, the command and the folder. It
    runs as root (the folder's parent is root's) with one capability, DAC_OVERRIDE, so that it can
    remove what a claim's pod left in sub-folders it owns; busybox has no ``/bin/sh``, so the
    scripts come from the ConfigMap as executables with a ``#!/bin/busybox sh`` line.
    """
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "helper-pod"},
        "spec": {
            "priorityClassName": "system-node-critical",
            "automountServiceAccountToken": False,
            "securityContext": {"runAsUser": 0, "runAsGroup": 0, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    "name": "helper-pod",  # the provisioner reads this container's log by name
                    "image": busybox,
                    "imagePullPolicy": "Never",
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "readOnlyRootFilesystem": True,
                        "capabilities": {"drop": ["ALL"], "add": ["DAC_OVERRIDE"]},
                    },
                    "resources": {"requests": {"cpu": "10m", "memory": "8Mi"}, "limits": {"memory": "32Mi"}},
                    "volumeMounts": [{"name": "pdn-scripts", "mountPath": HELPER_SCRIPTS, "readOnly": True}],
                }
            ],
            "volumes": [
                {
                    "name": "pdn-scripts",
                    "configMap": {
                        "name": LOCAL_PATH_CONFIG,
                        "items": [{"key": "setup", "path": "setup"}, {"key": "teardown", "path": "teardown"}],
                        "defaultMode": 0o555,
                    },
                }
            ],
        },
    }


def local_path_config(busybox: str) -> dict[str, Any]:
    """The provisioner's ConfigMap: where volumes go, the helper pod, its scripts (all serialised data)."""
    config = {
        "nodePathMap": [{"node": "DEFAULT_PATH_FOR_NON_LISTED_NODES", "paths": [LOCAL_PATH_DIR]}],
        # Run as commands (not through the provisioner's default `/bin/sh /script/...`).
        "setupCommand": f"{HELPER_SCRIPTS}/setup",
        "teardownCommand": f"{HELPER_SCRIPTS}/teardown",
        "cmdTimeoutSeconds": 120,
    }
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": LOCAL_PATH_CONFIG, "namespace": LOCAL_PATH_NAMESPACE},
        "data": {
            "config.json": json.dumps(config, indent=2, sort_keys=True) + "\n",
            # JSON is YAML: the provisioner reads this key as a YAML document.
            "helperPod.yaml": json.dumps(helper_pod_template(busybox), indent=2, sort_keys=True) + "\n",
            "setup": SETUP_SCRIPT,
            "teardown": TEARDOWN_SCRIPT,
        },
    }


def local_path_objects(image: str, busybox: str) -> list[dict[str, Any]]:
    """Namespace, account, RBAC, ConfigMap, Deployment and the default StorageClass ``local-path``."""
    labels = {"app": LOCAL_PATH}
    namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": LOCAL_PATH_NAMESPACE,
            # Privileged: the helper pods mount a hostPath (the node's volume folder) and run as
            # root, which baseline and restricted refuse. Nothing else runs here: the provisioner
            # itself is restricted-clean, and only it (its Role) creates pods in this namespace.
            "labels": {"pod-security.kubernetes.io/enforce": "privileged"},
        },
    }
    account = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": LOCAL_PATH, "namespace": LOCAL_PATH_NAMESPACE},
    }
    restricted = {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": LOCAL_PATH, "namespace": LOCAL_PATH_NAMESPACE, "labels": labels},
        "spec": {
            "replicas": 1,
            # No leader election in the provisioner: never two of them at once, not even in a rollout.
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "serviceAccountName": LOCAL_PATH,
                    "nodeSelector": REAL_NODES,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 65534,
                        "runAsGroup": 65534,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        {
                            "name": LOCAL_PATH,
                            "image": image,
                            "imagePullPolicy": "Never",
                            "args": [
                                "start",
                                f"--config={CONFIG_MOUNT}/config.json",
                                f"--helper-pod-file={CONFIG_MOUNT}/helperPod.yaml",
                                f"--provisioner-name={PROVISIONER_NAME}",
                                f"--service-account-name={LOCAL_PATH}",
                                f"--helper-image={busybox}",
                            ],
                            "env": [
                                {
                                    "name": "POD_NAMESPACE",
                                    "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
                                },
                                # Re-read the mounted helper pod file when the ConfigMap changes.
                                {"name": "CONFIG_MOUNT_PATH", "value": f"{CONFIG_MOUNT}/"},
                            ],
                            "securityContext": restricted,
                            "resources": {
                                "requests": {"cpu": "10m", "memory": "32Mi"},
                                "limits": {"memory": "128Mi"},
                            },
                            "volumeMounts": [{"name": "config", "mountPath": CONFIG_MOUNT, "readOnly": True}],
                        }
                    ],
                    "volumes": [{"name": "config", "configMap": {"name": LOCAL_PATH_CONFIG}}],
                },
            },
        },
    }
    storage_class = {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {
            "name": STORAGE_CLASS,
            "annotations": {
                "storageclass.kubernetes.io/is-default-class": "true",
                # `local` volumes get the pod's fsGroup from the kubelet (hostPath volumes do not),
                # so a non-root pod writes its volume without a world-writable folder.
                "defaultVolumeType": "local",
            },
        },
        "provisioner": PROVISIONER_NAME,
        "volumeBindingMode": "WaitForFirstConsumer",
        "reclaimPolicy": "Delete",
    }
    return [namespace, account, *_local_path_rbac(), local_path_config(busybox), deployment, storage_class]


def apply_storage_addon(site: Site, timeout: float = READY_STORAGE_TIMEOUT) -> None:
    """Apply the local-path add-on (idempotent: a re-run changes nothing) and wait until its
    provisioner is available on a real node."""
    from pdn.nodes.podimages import pod_images

    images = {image.recipe: image.name for image in pod_images(site.kubernetes.version)}
    client = kube.site(site.id)
    for body in local_path_objects(images["local-path-provisioner"], images["workload"]):
        client.apply(body, field_manager=FIELD_MANAGER, force=True)
    where = kube.path("apps/v1", "deployments", LOCAL_PATH_NAMESPACE, LOCAL_PATH)

    def available(deployment: dict[str, Any] | None) -> bool:
        if deployment is None:
            return False
        status = deployment.get("status") or {}
        return bool(
            status.get("observedGeneration", 0) >= deployment["metadata"].get("generation", 1)
            and status.get("updatedReplicas", 0) >= 1
            and status.get("availableReplicas", 0) >= 1
        )

    def describe(deployment: dict[str, Any] | None) -> str:
        if deployment is None:
            return "no Deployment"
        conditions = (deployment.get("status") or {}).get("conditions") or []
        return "; ".join(f"{c.get('type')}={c.get('status')} {c.get('message', '')}" for c in conditions) or "no status"

    wait_until(
        f"{site.id}: {LOCAL_PATH_NAMESPACE}/{LOCAL_PATH} available",
        lambda: client.get(where),
        available,
        timeout=timeout,
        interval=1,
        describe=describe,
        retry_on=(kube.KubeError,),
        hint=f"kubectl -n {LOCAL_PATH_NAMESPACE} describe pods",
    )
