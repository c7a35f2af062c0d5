"""The cluster add-ons of a site with real nodes, built as data and applied server-side.

kube-proxy and CoreDNS come from kubeadm's own add-on phases (``pdn.lab.realnodes``); this module
adds what kubeadm leaves to the user — the pod network, kube-router — and adjusts the two add-ons
for the lab: they run on real nodes only (never on kwok's fake ones), and CoreDNS answers for the
cluster only (no ``forward``: nothing outside the lab is ever asked).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
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
    """kube-router's service account, RBAC and DaemonSet (upstream's kubeadm manifest, as data)."""
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
        {"name": "KUBERNETES_SERVICE_HOST", "value": sitenet.gateway(site.id)},
        {"name": "KUBERNETES_SERVICE_PORT", "value": str(layout.port(site.id, "kube-apiserver"))},
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
                    "nodeSelector": REAL_NODES,
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


def approve_serving_certificates(site: Site, nodes: dict[str, str], timeout: float) -> int:
    """Approve the kubelet serving-certificate requests of the site's own new nodes.

    kubelets ask for their serving certificate through a CSR (``serverTLSBootstrap``), which
    Kubernetes never approves by itself; the lab approves a request only when it comes from one of
    ``nodes`` (name -> address) and asks for nothing but that node's own name and address (what an
    operator or a kubelet-CSR approver checks), so that the API server verifies kubelets against
    the site CA.
    """
    client = kube.site(site.id)
    where = kube.path("certificates.k8s.io/v1", "certificatesigningrequests")
    wanted = {f"system:node:{name}": address for name, address in nodes.items()}

    def pending() -> list[str]:
        requests = client.list_items(where)
        served = {r["spec"]["username"] for r in requests if _approved(r) and _is_serving(r)}
        waiting = [
            r for r in requests
            if _is_serving(r) and not _approved(r) and r["spec"]["username"] in wanted
            and _names(r) <= {r["spec"]["username"].removeprefix("system:node:"), wanted[r["spec"]["username"]]}
        ]  # fmt: skip
        for request in waiting:
            request.setdefault("status", {})["conditions"] = [
                {"type": "Approved", "status": "True", "reason": "PdnLabNode", "message": "a node of this lab site"}
            ]
            client.request("PUT", f"{where}/{request['metadata']['name']}/approval", request)
            served.add(request["spec"]["username"])
        return sorted(set(wanted) - served)

    wait_until(f"{site.id}: kubelet serving certificates of {', '.join(nodes)}", pending, lambda left: not left,
               timeout=timeout, interval=1, describe=lambda left: "no request yet from " + ", ".join(left),
               retry_on=(kube.KubeError,))  # fmt: skip
    return len(nodes)


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
