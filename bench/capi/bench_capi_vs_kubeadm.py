"""Benchmark Cluster API against kubeadm by hand: the same cluster, the same node image, one run.

    .venv/bin/python bench/capi/bench_capi_vs_kubeadm.py

Runs in a lab of its own (state folder, ports from 26100, node names ``pdnbenchc``: the capi test
tier's ports, so not beside it) and removes everything at the end. Steps, in one run:

1. **Cluster API**: the management plane on cikarang (``pdn lab capi up``'s code), then ikn's
   stack at the previous Kubernetes patch release (toolchain unit ``kubernetes-previous``) with one
   control-plane machine and one worker (``pulumi up``), timed until both nodes are Ready; the
   first pool scaled to two workers in the site model and ``pulumi up`` again, timed until the
   third node is Ready; the site model moved to its own release and ``pulumi up`` again, timed
   until every machine is replaced and every node Ready at the new release; ``pulumi destroy``
   until no machine is left. What Cluster API rendered for each machine (its bootstrap data) and
   how CAPD ran the control-plane container are kept for step 2.
2. **kubeadm by hand**: the same containers (the control-plane machine's image, mounts, tmpfs,
   security options and ulimits, read from ``podman inspect``) started with podman; on each, the
   files and commands of the bootstrap data Cluster API rendered, run with ``podman exec`` as an
   operator would by hand: ``kubeadm init`` on the first, kube-router applied, ``kubeadm join`` on
   the second, timed until both nodes are Ready; a third container joined, timed until Ready; then
   kubeadm's own upgrade procedure, in place, node after node: the new kubeadm copied in,
   ``kubeadm upgrade apply`` on the control plane (``kubeadm upgrade node`` on the workers), the
   node drained, the new kubelet copied in and restarted, the node uncordoned, timed until every
   node is Ready at the new release. Only the control-plane endpoint differs: the first
   container's address instead of CAPD's load balancer (a cluster made by hand with one
   control-plane node needs none).

Writes out/bench/capi-vs-kubeadm.json and prints a table for docs/benchmarks.md.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

NAMESPACE = "pdnbenchc"
LAB_PORT_BASE = "26100"
NODES_PORT_BASE = "26500"
MANAGEMENT = "cikarang"
WORKLOAD = "ikn"
HAND = "pdn-bench-kubeadm"
TIMEOUT = 900.0


def kubectl(kubeconfig: Path, *args: str, stdin: str | None = None) -> str:
    from pdn.toolchain import resolve

    done = subprocess.run([str(resolve("kubectl")), "--kubeconfig", str(kubeconfig), *args], input=stdin,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def ready_nodes(kubeconfig: Path) -> int:
    try:
        items = json.loads(kubectl(kubeconfig, "get", "nodes", "-o", "json"))["items"]
    except (RuntimeError, ValueError, subprocess.TimeoutExpired):
        return 0
    conditions = [c for node in items for c in node["status"].get("conditions", []) if c["type"] == "Ready"]
    return sum(1 for c in conditions if c["status"] == "True")


def ready_nodes_at(kubeconfig: Path, version: str) -> int:
    """Ready nodes whose kubelet runs ``version``, 0 while any node runs another one."""
    try:
        items = json.loads(kubectl(kubeconfig, "get", "nodes", "-o", "json"))["items"]
    except (RuntimeError, ValueError, subprocess.TimeoutExpired):
        return 0
    if {node["status"]["nodeInfo"]["kubeletVersion"] for node in items} != {version}:
        return 0
    return ready_nodes(kubeconfig)


def timed(
    what: str, action: Callable[[], object], kubeconfig: Callable[[], Path], nodes: int, version: str | None = None
) -> float:
    """Seconds from starting ``action`` until ``nodes`` nodes are Ready (all at ``version``, if given)."""
    from pdn.wait import wait_until

    def done() -> bool:
        config = kubeconfig()
        return (ready_nodes(config) if version is None else ready_nodes_at(config, version)) >= nodes

    began = time.monotonic()
    action()
    wait_until(what, done, timeout=2 * TIMEOUT, interval=2)
    seconds = time.monotonic() - began
    print(f"{what}: {seconds:.0f} s", flush=True)
    return seconds


def releases() -> tuple[str, str]:
    """(the release the cluster starts at, the site model's release it is upgraded to)."""
    from pdn.nodes.kubenode import release
    from pdn.toolchain.lock import load_lock

    return load_lock().units["kubernetes-previous"].version, release()


def podman_json(*args: str) -> Any:
    from pdn.nodes.podman import podman

    return json.loads(podman(list(args)).stdout)


def machine_bootstrap(management_config: Path) -> dict[str, str]:
    """Cluster API's bootstrap data (cloud-config) per role: ``control-plane`` and ``worker``."""
    namespace = f"pdn-cluster-{WORKLOAD}"
    machines = json.loads(kubectl(management_config, "-n", namespace, "get", "machines", "-o", "json"))["items"]
    data: dict[str, str] = {}
    for machine in machines:
        role = "control-plane" if "cluster.x-k8s.io/control-plane" in machine["metadata"]["labels"] else "worker"
        secret = machine["spec"]["bootstrap"]["dataSecretName"]
        value = kubectl(management_config, "-n", namespace, "get", "secret", secret, "-o", "jsonpath={.data.value}")
        data[role] = base64.b64decode(value).decode()
    return data


def container_run_args(info: dict[str, Any], name: str) -> list[str]:
    """``podman run`` arguments giving a new container what CAPD gave the machine ``info`` describes."""
    host = info["HostConfig"]
    args = ["run", "-d", "--name", name, "--hostname", name, "--network", "kind", "--runtime", "runc"]
    if host.get("Privileged"):
        args.append("--privileged")
    for option in host.get("SecurityOpt") or []:
        args += ["--security-opt", option]
    for path, options in (host.get("Tmpfs") or {}).items():
        args += ["--tmpfs", f"{path}:{options}" if options else path]
    for mount in info.get("Mounts") or []:
        if mount["Type"] == "bind":
            args += ["-v", f"{mount['Source']}:{mount['Destination']}{'' if mount.get('RW', True) else ':ro'}"]
        elif mount["Type"] == "volume":
            args += ["-v", mount["Destination"]]
    for limit in host.get("Ulimits") or []:
        args += ["--ulimit", f"{limit['Name'].removeprefix('RLIMIT_').lower()}={limit['Soft']}:{limit['Hard']}"]
    return [*args, info["ImageName"]]


def cloud_config(text: str, replace: dict[str, str]) -> tuple[list[dict[str, Any]], list[str]]:
    """The files and commands of a bootstrap cloud-config, with ``replace`` applied to both."""

    def swap(value: str) -> str:
        for old, new in replace.items():
            value = value.replace(old, new)
        return value

    document = yaml.safe_load(text)
    files = []
    for entry in document.get("write_files") or []:
        content = entry.get("content", "")
        if entry.get("encoding") in ("b64", "base64"):
            content = base64.b64decode(content).decode()
        files.append({**entry, "content": swap(content), "encoding": None})
    commands = [swap(c if isinstance(c, str) else " ".join(c)) for c in document.get("runcmd") or []]
    return files, commands


def run_by_hand(container: str, files: list[dict[str, Any]], commands: list[str]) -> None:
    """What an operator does on a fresh node: write the files, run the commands."""
    from pdn.nodes.podman import podman

    for entry in files:
        path = entry["path"]
        mode = str(entry.get("permissions") or "0644")
        podman(["exec", "-i", container, "sh", "-c",
                f"mkdir -p \"$(dirname '{path}')\" && cat > '{path}' && chmod {mode} '{path}'"],
               input_text=entry["content"])  # fmt: skip
    for command in commands:
        podman(["exec", container, "sh", "-c", command], timeout=600)


def by_hand_names(balancer: str, address: str, host: str) -> dict[str, str]:
    """What differs by hand: the first container's API server instead of the load balancer, and the
    host name the cloud-config's template variables stand for (CAPD fills them in)."""
    names = ("{{ ds.meta_data.hostname }}", "{{ ds.meta_data.local_hostname }}", "{{ v1.local_hostname }}")
    return {balancer: f"{address}:6443", **dict.fromkeys(names, host)}


def wait_booted(container: str) -> None:
    from pdn.errors import PdnError
    from pdn.nodes.podman import podman
    from pdn.wait import wait_until

    def booted() -> bool:
        state = podman(["exec", container, "systemctl", "is-system-running"], check=False).stdout.strip()
        return state in ("running", "degraded")

    wait_until(f"{container} booted", booted, timeout=180, interval=1, retry_on=(subprocess.SubprocessError, PdnError))


def by_hand(bootstrap: dict[str, str], machine: dict[str, Any], balancer: str, out: Path) -> dict[str, float]:
    """The same cluster with kubeadm by hand: init, pod network, join; then one more worker."""
    from pdn.lab.kube_addons import kube_router_manifest
    from pdn.nodes.podman import podman
    from pdn.sites import load_sites
    from pdn_infra.program import kube_router_image

    result: dict[str, float] = {}
    control_plane, workers = f"{HAND}-cp", [f"{HAND}-w1", f"{HAND}-w2"]
    admin = out / "by-hand-admin.conf"

    def start(name: str) -> str:
        podman(container_run_args(machine, name))
        wait_booted(name)
        info = podman_json("inspect", name)[0]
        return str(info["NetworkSettings"]["Networks"]["kind"]["IPAddress"])

    def create_control_plane() -> None:
        address = start(control_plane)
        run_by_hand(
            control_plane, *cloud_config(bootstrap["control-plane"], by_hand_names(balancer, address, control_plane))
        )
        admin.write_text(podman(["exec", control_plane, "cat", "/etc/kubernetes/admin.conf"]).stdout)
        admin.chmod(0o600)
        image = kube_router_image(load_sites().site(WORKLOAD))
        kubectl(admin, "apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List",
                "items": kube_router_manifest(image, address, 6443)}))  # fmt: skip
        join(workers[0], address)

    def join(name: str, address: str) -> None:
        start(name)
        files, commands = cloud_config(bootstrap["worker"], by_hand_names(balancer, address, name))
        token = yaml.safe_load(next(f["content"] for f in files if f["path"].endswith("kubeadm-join-config.yaml")))
        secret = token["discovery"]["bootstrapToken"]["token"]
        podman(["exec", control_plane, "kubeadm", "token", "create", secret, "--ttl", "15m"], check=False)
        run_by_hand(name, files, commands)

    def upgrade_node(name: str, first: bool, target: str) -> None:
        from pdn.lab.realnodes import IGNORED_PREFLIGHT
        from pdn.toolchain import resolve

        podman(["cp", str(resolve("kubeadm")), f"{name}:/usr/local/bin/kubeadm"])
        patches = "--patches=/etc/kubernetes/patches"
        if first:
            ignored = ",".join(IGNORED_PREFLIGHT)
            podman(["exec", name, "kubeadm", "upgrade", "apply", target, "--yes", patches,
                    f"--ignore-preflight-errors={ignored}"], timeout=900)  # fmt: skip
        else:
            podman(["exec", name, "kubeadm", "upgrade", "node", patches], timeout=900)
        kubectl(admin, "drain", name, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=300s")
        podman(["cp", str(resolve("kubelet")), f"{name}:/usr/local/bin/kubelet"])
        podman(["exec", name, "systemctl", "restart", "kubelet"])
        kubectl(admin, "uncordon", name)

    def upgrade(target: str) -> None:
        for index, name in enumerate([control_plane, *workers]):
            upgrade_node(name, index == 0, target)

    try:
        result["create_seconds"] = timed("kubeadm by hand: init, pod network, join, until 2 Ready",
                                         create_control_plane, lambda: admin, 2)  # fmt: skip

        def address() -> str:
            return str(podman_json("inspect", control_plane)[0]["NetworkSettings"]["Networks"]["kind"]["IPAddress"])

        result["scale_up_seconds"] = timed("kubeadm by hand: one more worker until Ready",
                                           lambda: join(workers[1], address()), lambda: admin, 3)  # fmt: skip
        target = releases()[1]
        result["upgrade_seconds"] = timed(f"kubeadm by hand: upgrade in place to {target}, until 3 Ready",
                                          lambda: upgrade(target), lambda: admin, 3, target)  # fmt: skip
    finally:
        podman(["rm", "-f", "-t", "5", control_plane, *workers], check=False)
    return result


def with_cluster_api(models: Path, out: Path) -> tuple[dict[str, float], dict[str, str], dict[str, Any], str]:
    from pdn.capi.management import MACHINE_LABEL
    from pdn.lab import endpoints
    from pdn.sites.resize import resized_model
    from pdn.stacks import crds
    from pdn.stacks.runner import run
    from pdn.stacks.workspace import lab_workspace
    from pdn.wait import wait_until

    management_config = endpoints.kubeconfig_path(MANAGEMENT)
    workload_config = out / "capi-workload.conf"
    result: dict[str, float] = {}

    def workload() -> Path:
        if not workload_config.exists():
            try:
                value = kubectl(management_config, "-n", f"pdn-cluster-{WORKLOAD}", "get", "secret",
                                f"{WORKLOAD}-kubeconfig", "-o", "jsonpath={.data.value}")  # fmt: skip
            except RuntimeError:
                return workload_config
            workload_config.write_bytes(base64.b64decode(value))
            workload_config.chmod(0o600)
        return workload_config

    previous, target = releases()

    def up(replicas: int, version: str = previous, upgrade_from: tuple[str, ...] = ()) -> None:
        model = resized_model(models, WORKLOAD, replicas, version=version, upgrade_from=upgrade_from)
        os.environ["PDN_SITES"] = str(model)
        (outcome,) = run(lab_workspace([WORKLOAD], crds.fetch()), [WORKLOAD], "up", policy=True)
        print(f"pulumi up ({replicas} worker(s), {version}): {outcome.changes}", flush=True)

    result["create_seconds"] = timed("Cluster API: pulumi up until 2 Ready", lambda: up(1), workload, 2)
    result["scale_up_seconds"] = timed("Cluster API: pool 1 -> 2 in the site model, pulumi up, until Ready",
                                       lambda: up(2), workload, 3)  # fmt: skip
    bootstrap = machine_bootstrap(management_config)
    listed = podman_json("ps", "--filter", f"label={MACHINE_LABEL}={WORKLOAD}", "--format", "json")
    (machine,) = [c for c in listed if c["Labels"].get("io.x-k8s.kind.role") == "control-plane"]
    info = podman_json("inspect", machine["Id"])[0]  # a machine at the release the cluster started at
    result["upgrade_seconds"] = timed(f"Cluster API: {previous} -> {target} in the site model, pulumi up, "
                                      "until every node is Ready at it", lambda: up(2, target, (previous,)),
                                      workload, 3, target)  # fmt: skip
    cluster = json.loads(kubectl(management_config, "-n", f"pdn-cluster-{WORKLOAD}", "get", "cluster", WORKLOAD,
                                 "-o", "json"))  # fmt: skip
    endpoint = cluster["spec"]["controlPlaneEndpoint"]
    balancer = f"{endpoint['host']}:{endpoint['port']}"
    began = time.monotonic()
    run(lab_workspace([WORKLOAD], crds.fetch()), [WORKLOAD], "destroy", policy=False)

    def gone() -> bool:
        listed = podman_json("ps", "-a", "--filter", f"label={MACHINE_LABEL}={WORKLOAD}",
                             "--format", "json")  # fmt: skip
        return not listed

    wait_until("every machine removed", gone, timeout=TIMEOUT, interval=2)
    result["destroy_seconds"] = time.monotonic() - began
    return result, bootstrap, info, balancer


def main() -> None:
    lab_dir = Path(tempfile.mkdtemp(prefix="pdn-bench-capi-"))
    os.environ.update(PDN_LAB_DIR=str(lab_dir), PDN_LAB_PORT_BASE=LAB_PORT_BASE, PDN_NODES_NAMESPACE=NAMESPACE,
                      PDN_NODES_PORT_BASE=NODES_PORT_BASE)  # fmt: skip
    from pdn.sites.resize import resized_model

    models = lab_dir / "models"
    models.mkdir()
    os.environ["PDN_SITES"] = str(resized_model(models, WORKLOAD, 1, version=releases()[0]))
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "infra"))
    from pdn.capi import management
    from pdn.lab import runtime
    from pdn.lab.nodes_bridge import start_node_containers, stop_node_containers
    from pdn.up import plan_sites

    sites = sorted({MANAGEMENT, *plan_sites([WORKLOAD]).lab})
    result: dict[str, Any] = {}
    try:
        runtime.up(sites)
        start_node_containers(MANAGEMENT, 1, real=True)
        began = time.monotonic()
        management.up(MANAGEMENT, WORKLOAD)
        result["management_plane_seconds"] = time.monotonic() - began
        result["cluster_api"], bootstrap, machine, balancer = with_cluster_api(models, lab_dir)
        result["kubeadm_by_hand"] = by_hand(bootstrap, machine, balancer, lab_dir)
    finally:
        management.down(MANAGEMENT, purge=True)
        stop_node_containers(MANAGEMENT)
        runtime.down(sites, purge=True)
    result["load_average"] = os.getloadavg()
    out = Path("out/bench/capi-vs-kubeadm.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    capi, hand = result["cluster_api"], result["kubeadm_by_hand"]
    print("| measure | Cluster API (`pulumi up`) | kubeadm by hand | ratio |\n| --- | --- | --- | --- |")
    previous, target = releases()
    for key, label in (("create_seconds", "create: 1 control plane + 1 worker, both Ready"),
                       ("scale_up_seconds", "scale up by one worker, Ready"),
                       ("upgrade_seconds", f"upgrade {previous} -> {target}: 1 control plane + 2 workers, "
                                           "all Ready at it")):  # fmt: skip
        print(f"| {label} | {capi[key]:.0f} s | {hand[key]:.0f} s | {capi[key] / hand[key]:.1f}x |")
    print(f"| destroy until no machine is left | {capi['destroy_seconds']:.0f} s | - | - |")
    print(f"written: {out}")


if __name__ == "__main__":
    main()
