"""Start, stop and list the Debian 12 node containers (systemd + sshd, SSH on 127.0.0.1 only).

A node is a podman container named ``pdn-<site>-node-<n>``. Everything about it (site, role,
failure domain, SSH port) is stored in container labels, so ``list_nodes`` needs no state file
and several clones see the same nodes. Starting a node that already runs is a no-op.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pdn.errors import InputError
from pdn.nodes.image import ensure_image
from pdn.nodes.podman import podman, require
from pdn.paths import lab_dir
from pdn.progress import StepProgress
from pdn.sites import load_sites
from pdn.sites.model import Site
from pdn.wait import wait_until

ROLES = ("control-plane", "worker", "storage")
LABEL = "pdn.node"
USER = "ansible"
NAMESPACE_LABEL = "pdn.namespace"
MAX_NODES_PER_SITE = 99


@dataclass(frozen=True)
class KubeRun:
    """How a node container runs as a real Kubernetes node (``pdn.lab.realnodes`` fills it in)."""

    network: str
    addresses: dict[int, str]  # node index -> its address on the site network
    images: Path  # the pod image archives, mounted read-only at /opt/pdn/images


#: A real node needs a privileged container (containerd, runc and the kubelet manage cgroups,
#: mounts and network namespaces); pdn-node-init then shields the host's kernel settings. These
#: ulimits are the highest this host accepts (higher ones are refused without CAP_SYS_RESOURCE).
KUBE_ULIMITS = ("--ulimit=nofile=20000:20000", "--ulimit=nproc=32768:32768")


@dataclass(frozen=True)
class Node:
    """One node container and how to reach it over SSH."""

    name: str
    site: str
    index: int
    role: str
    failure_domain: str
    zone: str
    port: int
    host: str = "127.0.0.1"
    user: str = USER
    state: str = "running"
    address: str = ""  # its address on the site network (real Kubernetes nodes only)
    known_hosts: Path | None = None  # its pinned host key's file (default: the lab nodes' file)

    @property
    def key_path(self) -> Path:
        return ssh_key_path()

    @property
    def host_keys(self) -> Path:
        return self.known_hosts or known_hosts_path()

    @property
    def group_role(self) -> str:
        """The role as an Ansible group name (``control_plane``)."""
        return self.role.replace("-", "_")


def namespace() -> str:
    """Name prefix and label that keep independent sets of nodes apart (``PDN_NODES_NAMESPACE``).

    The lab uses the default ``pdn``; test and benchmark runs use their own so that a
    ``pdn lab down`` elsewhere on the machine never removes their nodes.
    """
    return os.environ.get("PDN_NODES_NAMESPACE", "pdn")


def port_base() -> int:
    """First SSH port (``PDN_NODES_PORT_BASE``, default 22000)."""
    return int(os.environ.get("PDN_NODES_PORT_BASE", "22000"))


def nodes_dir() -> Path:
    return lab_dir() / "nodes"


def ssh_key_path() -> Path:
    """The private key every node trusts for the ``ansible`` user (generated once per lab)."""
    return nodes_dir() / "id_ed25519"


def known_hosts_path() -> Path:
    """Host keys of the running nodes, read from the containers themselves (a trusted channel)."""
    return nodes_dir() / f"known_hosts-{namespace()}"


def node_name(site_id: str, index: int) -> str:
    return f"{namespace()}-{site_id}-node-{index}"


def node_port(site: Site, index: int) -> int:
    """Deterministic SSH port: port base + 100 * site order + index (cikarang node 1 -> 22101)."""
    return port_base() + 100 * site.order + index


def ensure_ssh_key() -> Path:
    key = ssh_key_path()
    if not key.exists():
        key.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                require("ssh-keygen", "openssh-client"),
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                "pdn-lab-ansible",
                "-f",
                str(key),
            ],
            check=True,
        )
    key.chmod(0o600)
    return key


def plan_roles(site: Site, count: int, roles: Sequence[str] | None = None) -> list[str]:
    """Role of each node: the given list (cycled), or one control plane, workers, and a storage
    node last when the site has a storage pool and at least three nodes are asked for."""
    if roles:
        unknown = sorted(set(roles) - set(ROLES))
        if unknown:
            raise InputError(f"unknown node role(s) {', '.join(unknown)}; known: {', '.join(ROLES)}")
        return [roles[i % len(roles)] for i in range(count)]
    has_storage = any(pool.labels.get("pdn.go.id/pool-role") == "storage" for pool in site.kubernetes.worker_pools)
    planned = ["control-plane"] + ["worker"] * (count - 1)
    if has_storage and count >= 3:
        planned[-1] = "storage"
    return planned[:count]


def _failure_domain(site: Site, role: str, index: int) -> tuple[str, str]:
    if role == "storage":
        for pool in site.kubernetes.worker_pools:
            if pool.labels.get("pdn.go.id/pool-role") == "storage":
                domain = site.failure_domain(pool.failure_domain)
                return domain.id, domain.zone
    domain = site.failure_domains[(index - 1) % len(site.failure_domains)]
    return domain.id, domain.zone


def _ulimits() -> list[str]:
    """Explicit ulimits never above what this process already has (raising limits is not allowed)."""
    args: list[str] = []
    for name, which, cap in (
        ("nofile", resource.RLIMIT_NOFILE, 65536),
        ("nproc", resource.RLIMIT_NPROC, 8192),
    ):
        soft, hard = resource.getrlimit(which)
        hard = cap if hard == resource.RLIM_INFINITY else min(hard, cap)
        soft = hard if soft == resource.RLIM_INFINITY else min(soft, hard)
        args.append(f"--ulimit={name}={soft}:{hard}")
    return args


def containerd_volume(name: str) -> str:
    """The podman volume holding a real node's /var/lib/containerd (overlayfs cannot nest)."""
    return f"{name}-containerd"


def _run_container(node: Node, image: str, kube: KubeRun | None = None) -> None:
    labels = {
        LABEL: "true",
        NAMESPACE_LABEL: namespace(),
        "pdn.site": node.site,
        "pdn.index": str(node.index),
        "pdn.role": node.role,
        "pdn.failure-domain": node.failure_domain,
        "pdn.zone": node.zone,
        "pdn.port": str(node.port),
    }
    if kube is not None:
        labels |= {"pdn.kubernetes": "true", "pdn.address": kube.addresses[node.index]}
    args = [
        "run",
        "-d",
        "--name",
        node.name,
        "--hostname",
        node.name,
        "--runtime",
        "runc",
        "--systemd=always",
    ]
    if kube is None:
        args += _ulimits()
        # NET_ADMIN is scoped to the container's own network namespace: it lets nftables load for real.
        args += ["--cap-add", "NET_ADMIN", "-p", f"127.0.0.1:{node.port}:22"]
    else:
        args += [*KUBE_ULIMITS, "--privileged", "--cgroupns=private"]
        # PID 1 is pdn-node-init, so podman does not see systemd and would stop it with SIGTERM,
        # which systemd as PID 1 ignores (it re-executes itself): every stop waited for the kill.
        # SIGRTMIN+3 is systemd's "halt": kubelet, containerd and the pods stop in order.
        args += ["--stop-signal", "SIGRTMIN+3"]
        # No -p: podman does not forward published ports into an internal network; the lab bridges
        # 127.0.0.1:<port> to the node's SSH instead (pdn.lab.sitenet.ssh_bridge_spec).
        args += ["--network", kube.network, "--ip", kube.addresses[node.index]]
        args += ["-v", f"{containerd_volume(node.name)}:/var/lib/containerd"]
        args += ["-v", f"{kube.images}:/opt/pdn/images:ro"]
    for key, value in labels.items():
        args += ["--label", f"{key}={value}"]
    args += [image] if kube is not None else [image, "/sbin/init"]
    podman(args)


def install_key(name: str) -> None:
    public = ssh_key_path().with_suffix(".pub").read_text()
    script = (
        f"install -d -m 0700 -o {USER} -g {USER} /home/{USER}/.ssh && "
        f"cat > /home/{USER}/.ssh/authorized_keys && "
        f"chown {USER}:{USER} /home/{USER}/.ssh/authorized_keys && chmod 0600 /home/{USER}/.ssh/authorized_keys"
    )
    podman(["exec", "-i", name, "sh", "-c", script], input_text=public)


def read_host_key(name: str, deadline: float) -> str:
    def read() -> tuple[int, str, str]:
        proc = podman(["exec", name, "cat", "/etc/ssh/ssh_host_ed25519_key.pub"], check=False)
        return proc.returncode, proc.stdout.strip(), proc.stderr.strip()

    _, key, _ = wait_until(
        f"{name}'s sshd to generate its host keys", read, lambda seen: seen[0] == 0 and bool(seen[1]),
        timeout=max(0.0, deadline - time.monotonic()), interval=0.5, hint=f"podman logs {name}",
        describe=lambda seen: f"exit {seen[0]}: {seen[2][-200:] or 'no key yet'}",
    )  # fmt: skip
    return key


def ssh_base_args(node: Node) -> list[str]:
    """``ssh`` arguments that reach ``node`` with the lab key and pinned host keys."""
    return [
        "ssh", "-i", str(ssh_key_path()), "-p", str(node.port),
        "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=5",
        "-o", f"UserKnownHostsFile={node.host_keys}", "-o", "StrictHostKeyChecking=yes",
        f"{node.user}@{node.host}",
    ]  # fmt: skip


def wait_for_ssh(node: Node, timeout: float = 90) -> None:
    def login() -> subprocess.CompletedProcess[str]:
        return subprocess.run([*ssh_base_args(node), "true"], capture_output=True, text=True, check=False)

    wait_until(
        f"{node.name}: SSH login on 127.0.0.1:{node.port}", login, lambda proc: proc.returncode == 0,
        timeout=timeout, interval=0.5, describe=lambda proc: proc.stderr.strip()[-200:] or f"exit {proc.returncode}",
    )  # fmt: skip


def _write_known_hosts(nodes: Sequence[Node], keys: dict[str, str]) -> None:
    path = known_hosts_path()
    existing: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            host, _, key = line.partition(" ")
            existing[host] = key
    running = {f"[{n.host}]:{n.port}" for n in list_nodes() if n.state == "running"}
    merged = {host: key for host, key in existing.items() if host in running}
    for node in nodes:
        if node.name in keys:
            merged[f"[{node.host}]:{node.port}"] = keys[node.name]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{host} {key}\n" for host, key in sorted(merged.items())))


def start_nodes(
    site_id: str, count: int, roles: Sequence[str] | None = None, kube: KubeRun | None = None, image: str | None = None
) -> list[Node]:
    """Start ``count`` nodes for ``site_id`` (idempotent: running nodes are kept as they are).

    With ``kube`` the containers run as real Kubernetes nodes on the site network (``image`` is then
    the real-node image of :mod:`pdn.nodes.kubenode`); ``pdn.lab.realnodes`` joins them.
    """
    if not 1 <= count <= MAX_NODES_PER_SITE:
        raise InputError(f"node count must be between 1 and {MAX_NODES_PER_SITE}, got {count}")
    try:
        site = load_sites().site(site_id)
    except KeyError as error:
        raise InputError(str(error.args[0])) from None
    ensure_ssh_key()
    image = image or ensure_image()
    existing = {node.name: node for node in list_nodes(site_id)}
    planned: list[Node] = []
    for index, role in enumerate(plan_roles(site, count, roles), start=1):
        domain, zone = _failure_domain(site, role, index)
        name = node_name(site.id, index)
        address = kube.addresses[index] if kube else ""
        fresh = Node(name, site.id, index, role, domain, zone, node_port(site, index), address=address)
        planned.append(existing.get(name) or fresh)
    keys: dict[str, str] = {}
    deadline = time.monotonic() + 120
    with StepProgress(f"starting {count} node(s) for {site.id}", total=len(planned) * 2, unit="steps",
                      transient=True) as step:  # fmt: skip
        for node in planned:
            step.update(doing=f"container {node.name}")
            current = existing.get(node.name)
            if current is None:
                _run_container(node, image, kube)
            elif current.state != "running":
                podman(["start", node.name])
            step.advance()
        for node in planned:
            step.update(doing=f"SSH host key of {node.name}")
            keys[node.name] = read_host_key(node.name, deadline)
            install_key(node.name)
            step.advance()
    _write_known_hosts(planned, keys)
    if kube is None:  # real nodes are reached through the lab's bridges, which start after this
        for node in planned:
            wait_for_ssh(node)
    return [Node(**{**node.__dict__, "state": "running"}) for node in planned]


def stop_nodes(site_id: str | None = None) -> list[str]:
    """Remove the node containers of ``site_id`` (all sites when None); return their names."""
    found = list_nodes(site_id)
    names = [node.name for node in found]
    if names:
        podman(["rm", "--force", "--time", "5", *names], timeout=120)
    volumes = [containerd_volume(node.name) for node in found if node.address]
    if volumes:
        podman(["volume", "rm", "--force", *volumes], check=False, timeout=120)
    if known_hosts_path().exists():
        _write_known_hosts([], {})
    return names


def real_nodes(site_ids: Sequence[str] | None = None) -> list[Node]:
    """The node containers (running or not) of ``site_ids`` (default: all) that are real
    Kubernetes nodes: those started on a site network, with an address there."""
    return [node for node in list_nodes() if node.address and (site_ids is None or node.site in site_ids)]


def resume_real_nodes(site_ids: Sequence[str]) -> list[str]:
    """``podman start`` the stopped real nodes of ``site_ids`` in one go, without waiting for them.

    ``pdn lab up`` calls this before it starts the control planes, so the nodes boot while the
    API servers come up (their kubelets retry until they answer).
    """
    names = [node.name for node in real_nodes(site_ids) if node.state != "running"]
    if names:
        podman(["start", *names], timeout=180)
    return names


def pause_real_nodes(site_ids: Sequence[str]) -> list[str]:
    """Stop (not remove) the running real nodes of ``site_ids``, all in one go; return their names.

    systemd halts on the stop signal (kubelet and containerd stop in order within seconds); pod
    processes that run as PID 1 of their own namespace ignore the final SIGTERM, so podman kills
    what is left after 10 s. Nothing is lost: the node's state lives in its volume and the cluster.
    """
    names = [node.name for node in real_nodes(site_ids) if node.state == "running"]
    if names:
        podman(["stop", "--time", "10", *names], timeout=180)
    return names


def list_nodes(site_id: str | None = None) -> list[Node]:
    """Node containers podman knows about (running or not), sorted by site and index."""
    filters = ["--filter", f"label={LABEL}=true", "--filter", f"label={NAMESPACE_LABEL}={namespace()}"]
    if site_id:
        filters += ["--filter", f"label=pdn.site={site_id}"]
    proc = podman(["ps", "--all", "--format", "json", *filters])
    nodes = []
    for item in json.loads(proc.stdout or "[]"):
        labels = item.get("Labels") or {}
        nodes.append(
            Node(
                name=item["Names"][0],
                site=labels["pdn.site"],
                index=int(labels["pdn.index"]),
                role=labels["pdn.role"],
                failure_domain=labels.get("pdn.failure-domain", ""),
                zone=labels.get("pdn.zone", ""),
                port=int(labels["pdn.port"]),
                state=str(item.get("State", "unknown")),
                address=labels.get("pdn.address", ""),
            )
        )
    return sorted(nodes, key=lambda node: (node.site, node.index))
