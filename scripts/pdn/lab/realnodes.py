"""Real Kubernetes nodes for a lab site: Debian node containers joined with ``kubeadm join``.

The site's control plane stays the lab's host processes (etcd, kube-apiserver, controller-manager,
scheduler on 127.0.0.1: fast to start, shared by every area). What a kubeadm cluster keeps in the
API for joining nodes is put there by kubeadm itself, run on the host against that control plane:
``kubeadm init phase upload-config``, ``bootstrap-token`` (cluster-info, the bootstrap RBAC and CSR
auto-approval) and the ``kube-proxy`` and ``coredns`` add-ons. Each node container then runs the
standard ``kubeadm join`` with a short-lived bootstrap token and the CA's public-key pin, so the
kubelet gets its client certificate through the CSR flow as on any kubeadm node. kube-router
routes pod networks between nodes and enforces NetworkPolicy. docs/lab.md "Real nodes" explains
the design and each workaround this machine needs.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import shlex
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from pdn import safeload
from pdn.errors import PdnError
from pdn.lab import layout, sitenet
from pdn.lab.fake_nodes import FAILURE_DOMAIN, POOL, REGION, ZONE
from pdn.lab.kube_addons import (
    apply_network_addons,
    apply_storage_addon,
    approve_serving_certificates,
    node_states,
    wait_nodes_ready,
)
from pdn.lab.kubeconfig import write_kubeconfig
from pdn.lab.processes import running_pid, start
from pdn.nodes.image import ensure_image
from pdn.nodes.kubenode import ensure_kube_image
from pdn.nodes.podimages import ensure_pod_images, images_dir, import_new_archives
from pdn.nodes.podman import podman
from pdn.nodes.runtime import KubeRun, Node, start_nodes, wait_for_ssh
from pdn.paths import repo_root
from pdn.sites import Site
from pdn.toolchain import resolve
from pdn.wait import wait_until

KUBEADM_API = "kubeadm.k8s.io/v1beta4"
KUBELET_ROLE_DEFAULTS = "playbooks/collections/ansible_collections/pdn/hardening/roles/pdn_k8s_node/defaults/main.yml"
CRI_SOCKET = "unix:///run/containerd/containerd.sock"
#: kubeadm join checks these; on this host they cannot pass and do not matter: the kernel check
#: reads /lib/modules and wants cgroup v2 features, swap is tolerated by failSwapOn: false.
IGNORED_PREFLIGHT = ["SystemVerification", "Swap"]
JOIN_TIMEOUT = 240.0
READY_TIMEOUT = 300.0
NODE_KIND = "pdn.go.id/node-kind"

Report = Callable[[str, str], None]


@dataclass(frozen=True)
class JoinedNode:
    name: str
    address: str
    ready: bool
    kubelet: str


def _dump(documents: Iterable[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(list(documents), sort_keys=False)


def dns_service_ip(site: Site) -> str:
    """kubeadm's choice for the cluster DNS service: the tenth address of the service range."""
    return str(ipaddress.ip_network(site.kubernetes.service_cidr).network_address + 10)


def endpoint(site: Site) -> str:
    """Where nodes and pods reach the API server: the bridge on the site network."""
    return f"{sitenet.gateway(site.id)}:{layout.port(site.id, 'kube-apiserver')}"


def hardened_kubelet_settings() -> dict[str, Any]:
    """The kubelet settings the hardening role enforces (its defaults are the one source): a new
    node starts with them, so hardening it later changes nothing in the kubelet."""
    defaults = safeload.load_yaml(repo_root() / KUBELET_ROLE_DEFAULTS)
    settings: dict[str, Any] = defaults["pdn_k8s_node_kubelet_settings"]
    return settings


def kubelet_configuration(site: Site) -> dict[str, Any]:
    """What every real node's kubelet starts with: the lab's runtime facts plus the hardened settings."""
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        # cgroup v1 host, no systemd-managed cgroups for the container's processes
        "cgroupDriver": "cgroupfs",
        "failSwapOn": False,
        "containerRuntimeEndpoint": CRI_SOCKET,
        "clusterDNS": [dns_service_ip(site)],
        "clusterDomain": "cluster.local",
        # The node's disk is the host's: never evict for the host's own usage.
        "imageGCHighThresholdPercent": 100,
        "evictionHard": {"nodefs.available": "1%", "imagefs.available": "1%", "memory.available": "100Mi"},
        # protectKernelDefaults: pdn-node-init shows the kubelet the values it wants, so it never
        # writes the host's kernel; serverTLSBootstrap: the lab approves the serving certificate
        # (kube_addons.approve_serving_certificates), so the API server verifies kubelets.
        **hardened_kubelet_settings(),
    }


def kubeadm_configuration(site: Site) -> list[dict[str, Any]]:
    """The kubeadm documents for ``site``: init (for the host-side phases), cluster, kubelet, kube-proxy."""
    return [
        {
            "apiVersion": KUBEADM_API,
            "kind": "InitConfiguration",
            # Only the host-side phases read this: no token is created by them (see bootstrap_token).
            "bootstrapTokens": [],
            "nodeRegistration": {"criSocket": CRI_SOCKET, "name": f"pdn-lab-{site.id}-control-plane"},
            "localAPIEndpoint": {
                "advertiseAddress": sitenet.gateway(site.id),
                "bindPort": layout.port(site.id, "kube-apiserver"),
            },
        },
        {
            "apiVersion": KUBEADM_API,
            "kind": "ClusterConfiguration",
            "clusterName": f"pdn-lab-{site.id}",
            "kubernetesVersion": site.kubernetes.version,
            "controlPlaneEndpoint": endpoint(site),
            "imageRepository": "registry.k8s.io",
            "networking": {
                "podSubnet": site.kubernetes.pod_cidr,
                "serviceSubnet": site.kubernetes.service_cidr,
                "dnsDomain": "cluster.local",
            },
        },
        kubelet_configuration(site),
        {
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
            "kind": "KubeProxyConfiguration",
            # legacy iptables cannot initialise its nat table on this kernel
            "mode": "nftables",
            "clusterCIDR": site.kubernetes.pod_cidr,
            # maxPerCore 0: leave nf_conntrack_max alone, it is host-global
            "conntrack": {"maxPerCore": 0, "min": 0},
            "metricsBindAddress": "127.0.0.1:10249",
        },
    ]


def _network_kubeconfig(site: Site) -> Path:
    """An admin kubeconfig that embeds its CA and points at the bridge: kubeadm copies the server
    and CA of this file into ``cluster-info``, which joining nodes trust."""
    pki = layout.pki_dir(site.id)

    def data(name: str) -> str:
        return base64.b64encode((pki / name).read_bytes()).decode()

    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": f"pdn-lab-{site.id}",
                "cluster": {"server": f"https://{endpoint(site)}", "certificate-authority-data": data("ca.crt")},
            }
        ],
        "users": [
            {
                "name": "admin",
                "user": {"client-certificate-data": data("admin.crt"), "client-key-data": data("admin.key")},
            }
        ],
        "contexts": [{"name": f"pdn-lab-{site.id}", "context": {"cluster": f"pdn-lab-{site.id}", "user": "admin"}}],
        "current-context": f"pdn-lab-{site.id}",
    }
    path = layout.kubeconfig_dir(site.id) / "admin-site-network.yaml"
    write_kubeconfig(path, yaml.safe_dump(document, sort_keys=False))
    return path


def _kubeadm(site: Site, args: list[str], config: Path | None = None) -> str:
    """Run the host's kubeadm against the site's control plane; its output (never logged: tokens)."""
    argv = [str(resolve("kubeadm")), *args, "--kubeconfig", str(_network_kubeconfig(site))]
    if config is not None:
        argv += ["--config", str(config)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise PdnError(f"{site.id}: kubeadm {' '.join(args[:3])} failed: {lines[-1] if lines else done.returncode}")
    return done.stdout


def prepare_control_plane(site: Site) -> None:
    """What kubeadm keeps in the API for joining nodes, written by kubeadm's own phases (idempotent)."""
    with tempfile.TemporaryDirectory(prefix="pdn-kubeadm-") as tmp:
        config = Path(tmp) / "kubeadm.yaml"
        config.write_text(_dump(kubeadm_configuration(site)), encoding="utf-8")
        for phase in (
            ["upload-config", "kubeadm"],
            ["upload-config", "kubelet"],
            ["bootstrap-token"],
            ["addon", "kube-proxy"],
            ["addon", "coredns"],
        ):
            _kubeadm(site, ["init", "phase", *phase], config)


def bootstrap_token(site: Site) -> str:
    """A fresh bootstrap token valid for 30 minutes (kubeadm deletes it when it expires)."""
    return _kubeadm(site, ["token", "create", "--ttl", "30m"]).strip().splitlines()[-1]


def ca_cert_hash(site: Site) -> str:
    """``sha256:<hex>`` of the CA's public key: the pin ``kubeadm join`` checks cluster-info against."""
    ca = x509.load_pem_x509_certificate((layout.pki_dir(site.id) / "ca.crt").read_bytes())
    spki = ca.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(spki).hexdigest()


def node_labels(site: Site, node: Node) -> dict[str, str]:
    """The site model's region, zone, failure domain and pool for a real node (as on kwok nodes)."""
    pools = site.kubernetes.worker_pools
    storage = [pool for pool in pools if pool.labels.get("pdn.go.id/pool-role") == "storage"]
    general = [pool for pool in pools if pool not in storage] or pools
    pool = storage[0] if node.role == "storage" and storage else general[0]
    labels = {
        REGION: site.id,
        ZONE: node.zone,
        FAILURE_DOMAIN: node.failure_domain,
        POOL: pool.name,
        NODE_KIND: "real",
        **pool.labels,
    }
    return {key: value for key, value in labels.items() if not key.startswith(("node-role.", "kubernetes.io/"))}


def join_configuration(site: Site, node: Node, token: str) -> dict[str, Any]:
    labels = ",".join(f"{key}={value}" for key, value in sorted(node_labels(site, node).items()))
    return {
        "apiVersion": KUBEADM_API,
        "kind": "JoinConfiguration",
        "discovery": {
            "bootstrapToken": {
                "apiServerEndpoint": endpoint(site),
                "token": token,
                "caCertHashes": [ca_cert_hash(site)],
            }
        },
        "nodeRegistration": {
            "name": node.name,
            "criSocket": CRI_SOCKET,
            "ignorePreflightErrors": IGNORED_PREFLIGHT,
            "kubeletExtraArgs": [
                {"name": "node-ip", "value": node.address},
                {"name": "node-labels", "value": labels},
            ],
        },
    }


def _exec(node: Node, script: str, stdin: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return podman(["exec", "-i", node.name, "sh", "-c", script], check=False, input_text=stdin, timeout=timeout)


def _network_env(site: Site) -> str:
    values = {
        "NODE_SUBNET": str(sitenet.subnet(site.id)),
        "POD_CIDR": site.kubernetes.pod_cidr,
        "SERVICE_CIDR": site.kubernetes.service_cidr,
    }
    return "".join(f"{key}={shlex.quote(value)}\n" for key, value in values.items())


def is_joined(node: Node) -> bool:
    return _exec(node, "test -s /etc/kubernetes/kubelet.conf").returncode == 0


def join(site: Site, node: Node, token: str) -> None:
    """``kubeadm join`` inside ``node``; the join file (it holds the token) lives only for the join."""
    setup = _exec(
        node,
        "install -d -m 0755 /etc/pdn && cat > /etc/pdn/node-network.env && systemctl start pdn-node-network.service",
        _network_env(site),
    )
    if setup.returncode != 0:
        raise PdnError(f"{node.name}: the node network did not come up: {setup.stderr.strip()[-200:]}")
    script = (
        'set -e; umask 077; f=$(mktemp /etc/kubernetes-join.XXXXXX); trap \'rm -f "$f"\' EXIT; cat > "$f"; '
        'kubeadm join --config "$f" >/var/log/pdn-kubeadm-join.log 2>&1 '
        "|| { tail -5 /var/log/pdn-kubeadm-join.log >&2; exit 1; }"
    )
    done = _exec(node, script, _dump([join_configuration(site, node, token)]), timeout=JOIN_TIMEOUT)
    if done.returncode != 0:
        raise PdnError(
            f"{node.name}: kubeadm join failed: {done.stderr.strip()[-300:]}",
            hint=f"podman exec {node.name} cat /var/log/pdn-kubeadm-join.log",
        )


def ensure_bridge(site: Site) -> None:
    """Start the gateway bridges (API server, object stores) of the site network when they do not run."""
    for bridge in sitenet.bridges(site.id):
        spec = bridge.spec()
        if running_pid(spec) is None:
            start(spec)
        address = bridge.address

        def connects(address: tuple[str, int] = address) -> bool:
            with socket.create_connection(address, 1):
                return True

        wait_until(f"{site.id}: the {spec.name} on {address[0]}:{address[1]}", connects, timeout=10,
                   retry_on=(OSError,), hint=f"see {spec.log_file}")  # fmt: skip


def forget_nodes(site_id: str, names: list[str]) -> None:
    """Delete the Node objects of real nodes whose containers were removed, so that the pods bound
    to them are collected at once (a Node that never answers again keeps its pods for the 300 s
    of taint-based eviction, and a Recreate Deployment waits that long). Best effort: with the
    API server down (``pdn lab down``) there is nothing to tidy."""
    from pdn import kube

    try:
        client = kube.site(site_id)
        if client.reachable(timeout=2) is not None:
            return
        for name in names:
            client.delete(kube.path("v1", "nodes", None, name))
    except PdnError:  # no kubeconfig (a purged lab) or the server went away meanwhile
        return


def forget_stale_nodes(site: Site) -> list[str]:
    """Real Node objects of ``site`` with no node container on this machine (a test's nodes, or
    nodes removed while the API server was down): deleted; returns their names."""
    stale = [
        state.name
        for state in node_states(site)
        if podman(["container", "exists", state.name], check=False).returncode != 0
    ]
    forget_nodes(site.id, stale)
    return stale


def launch_site_nodes(site: Site, count: int, report: Report) -> list[Node]:
    """Create or restart the ``count`` real node containers of ``site`` (nothing joined yet)."""
    network = sitenet.ensure_network(site.id)
    image = ensure_kube_image()
    ensure_pod_images(ensure_image(), site.kubernetes.version)
    addresses = {index: sitenet.node_address(site.id, index) for index in range(1, count + 1)}
    nodes = start_nodes(site.id, count, kube=KubeRun(network, addresses, images_dir()), image=image)
    for name in import_new_archives([node.name for node in nodes]):  # nodes that ran on: new archives
        report(site.id, f"{name} imported the pod images built since it booted")
    report(site.id, f"{len(nodes)} real node container(s) running")
    return nodes


def join_site_nodes(site: Site, nodes: list[Node], report: Report) -> list[JoinedNode]:
    """Bridge SSH and the API server to ``nodes``, join the new ones and wait until all are Ready.

    A restarted node (``pdn lab down`` only stops real nodes) is a member already: it needs no
    join, only its kubelet's way back to Ready. Safe to run for several sites at once.
    """
    for node in nodes:
        bridge = sitenet.ssh_bridge_spec(site.id, node.name, node.port, node.address)
        if running_pid(bridge) is None:
            start(bridge)
    for node in nodes:
        wait_for_ssh(node)
    ensure_bridge(site)
    pending = [node for node in nodes if not is_joined(node)]
    if pending:
        prepare_control_plane(site)
        apply_network_addons(site)
        token = bootstrap_token(site)
        joins_began = datetime.now(UTC)
        for node in pending:
            began = time.monotonic()
            join(site, node, token)
            report(site.id, f"{node.name} joined in {time.monotonic() - began:.1f} s")
        approve_serving_certificates(site, {node.name: node.address for node in pending}, JOIN_TIMEOUT, joins_began)
    wait_nodes_ready(site, [node.name for node in nodes], READY_TIMEOUT)
    for name in forget_stale_nodes(site):
        report(site.id, f"removed the Node {name}: its container is gone")
    # Every time, not only after a join: server-side apply changes nothing when nothing changed,
    # and a cluster joined before the add-on existed gets it too.
    apply_storage_addon(site)
    return [JoinedNode(state.name, state.address, state.ready, state.kubelet) for state in node_states(site)]


__all__ = [
    "JoinedNode",
    "join_site_nodes",
    "kubeadm_configuration",
    "launch_site_nodes",
]
