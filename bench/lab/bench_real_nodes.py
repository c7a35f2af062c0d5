"""Benchmark real nodes: cold and warm lab start of the sites with their real nodes, join time, pod
start time and memory per node.

Runs in its own lab directory, port range and node namespace (never touches a lab you have running):

    .venv/bin/python bench/lab/bench_real_nodes.py                        # four sites, 2 nodes each
    .venv/bin/python bench/lab/bench_real_nodes.py --site cikarang --nodes 1

cold = ``pdn lab up --real-nodes N`` with no state: control planes, node containers created,
kubeadm phases, joins, Ready; warm = ``pdn lab down`` (state kept, real nodes only stopped) then
the same ``pdn lab up`` again: the nodes restart as members of the kept clusters. pod start = a
pod with a local image on each node, created to Ready. memory = the node container's own cgroup
(``memory.stat`` rss + mapped files: kubelet, containerd, kube-proxy, kube-router, CoreDNS where it
runs, systemd, sshd), after the pods started. Writes out/bench/real-nodes.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

NAMESPACE = "pdnbenchk"
LAB_PORT_BASE = "26100"
NODES_PORT_BASE = "26500"


def pdn(*args: str) -> tuple[float, str]:
    """Run ``pdn ARGS`` (as an operator would); return its wall time in seconds and what it printed."""
    began = time.monotonic()
    done = subprocess.run([sys.executable, "-c", "from pdn.cli import main; main()", *args], check=False,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    seconds = time.monotonic() - began
    sys.stdout.write(done.stdout)
    if done.returncode != 0:
        raise SystemExit(f"pdn {' '.join(args)} failed (exit {done.returncode})")
    return seconds, done.stdout


def join_times(output: str) -> list[float]:
    """Per-node ``kubeadm join`` seconds, as ``pdn lab up`` reported them."""
    return [float(line.rsplit(" joined in ", 1)[1].split()[0]) for line in output.splitlines() if " joined in " in line]


def container_memory_mib(name: str) -> float:
    """RSS + mapped files of the node container's memory cgroup (cgroup v1), in MiB."""
    container_id = subprocess.run(
        ["podman", "inspect", "--format", "{{.Id}}", name], capture_output=True, text=True, check=True
    ).stdout.strip()
    stat = Path(f"/sys/fs/cgroup/memory/libpod_parent/libpod-{container_id}/memory.stat")
    values = dict(line.split() for line in stat.read_text(encoding="utf-8").splitlines())
    return (int(values["total_rss"]) + int(values["total_mapped_file"])) / 2**20


def pod_start_seconds(site: str, node: str) -> float:
    """Create a busybox pod pinned to ``node`` and return the seconds until it is Ready."""
    from pdn import kube
    from pdn.wait import wait_until

    client = kube.site(site)
    name = f"bench-{node[-6:]}-{int(time.time()) % 100000}"
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "nodeName": node,
            "automountServiceAccountToken": False,
            "containers": [
                {
                    "name": "sleep",
                    "image": "localhost/pdn/workload:busybox",
                    "imagePullPolicy": "Never",
                    "command": ["/bin/busybox", "sleep", "600"],
                }
            ],
        },
    }
    path = kube.path("v1", "pods", namespace="default")
    began = time.monotonic()
    client.apply(pod, field_manager="pdn-bench")

    def ready() -> bool:
        item = client.get(f"{path}/{name}") or {}
        conditions = item.get("status", {}).get("conditions", [])
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    wait_until(f"pod {name} Ready", ready, timeout=180, interval=0.2)
    seconds = time.monotonic() - began
    client.delete(f"{path}/{name}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--site", action="append", help="site(s) (default: all four)")
    parser.add_argument("--nodes", type=int, default=2, help="real nodes per site")
    args = parser.parse_args()
    lab_dir = Path(tempfile.mkdtemp(prefix="pdn-bench-real-"))
    os.environ.update(PDN_LAB_DIR=str(lab_dir), PDN_LAB_PORT_BASE=LAB_PORT_BASE, PDN_NODES_NAMESPACE=NAMESPACE,
                      PDN_NODES_PORT_BASE=NODES_PORT_BASE)  # fmt: skip
    from pdn.lab.layout import site_ids
    from pdn.nodes import list_nodes

    sites = args.site or list(site_ids())
    site_args = [arg for site in sites for arg in ("--site", site)]
    result: dict[str, Any] = {"sites": sites, "nodes_per_site": args.nodes}
    try:
        result["cold_seconds"], output = pdn("lab", "up", *site_args, "--real-nodes", str(args.nodes))
        result["join_seconds"] = join_times(output)
        nodes = [(node.site, node.name) for node in list_nodes() if node.address]
        result["pod_start_seconds"] = {name: round(pod_start_seconds(site, name), 2) for site, name in nodes}
        time.sleep(10)
        result["memory_mib"] = {name: round(container_memory_mib(name), 1) for _, name in nodes}
        result["down_keep_seconds"] = pdn("lab", "down", *site_args)[0]
        result["warm_seconds"], output = pdn("lab", "up", *site_args, "--real-nodes", str(args.nodes))
        result["joins_after_restart"] = len(join_times(output))
        result["pod_start_after_restart_seconds"] = {
            name: round(pod_start_seconds(site, name), 2) for site, name in nodes
        }
    finally:
        pdn("lab", "down", "--purge", *site_args)
    result["load_average"] = os.getloadavg()
    out = Path("out/bench/real-nodes.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    memory = list(result["memory_mib"].values())
    print("| measure | value |\n| --- | --- |")
    cold = result["cold_seconds"]
    print(f"| cold `lab up` of {len(sites)} site(s) with {args.nodes} real node(s) each | {cold:.1f} s |")
    joins = result["join_seconds"]
    if joins:
        print(f"| `kubeadm join` per node | {min(joins):.1f}-{max(joins):.1f} s |")
    print(f"| warm `lab up` (nodes restarted) | {result['warm_seconds']:.1f} s |")
    starts = list(result["pod_start_seconds"].values())
    print(f"| pod start (created to Ready), per node | {min(starts):.1f}-{max(starts):.1f} s |")
    print(f"| memory per node (rss + mapped) | {min(memory):.0f}-{max(memory):.0f} MiB |")
    print(f"written: {out}")


if __name__ == "__main__":
    main()
