"""kwok's fake nodes for a site, named and labelled from the site model.

Control-plane nodes ``<site>-cp-<n>`` are spread round-robin over the site's failure domains
and tainted like kubeadm's; each worker pool contributes ``<site>-<pool>-<n>`` nodes in its
failure domain with the pool's labels, CPU and memory. Every fake node also carries the
``kwok.x-k8s.io/node=fake:NoSchedule`` taint, so that nothing but a scale test that tolerates it
lands there: a site's real workloads run on its real nodes (pdn.lab.realnodes) and never pass
for Running on a node that runs nothing.
"""

from __future__ import annotations

from typing import Any

from pdn.sites import Site

KWOK_ANNOTATION = "kwok.x-k8s.io/node"
REGION = "topology.kubernetes.io/region"
ZONE = "topology.kubernetes.io/zone"
POOL = "pdn.go.id/pool"
FAILURE_DOMAIN = "pdn.go.id/failure-domain"
CONTROL_PLANE = "node-role.kubernetes.io/control-plane"
FAKE_TAINT = {"key": KWOK_ANNOTATION, "value": "fake", "effect": "NoSchedule"}
#: What a pod spec adds to be scheduled onto kwok's fake nodes (scale tests only).
FAKE_TOLERATION = {"key": KWOK_ANNOTATION, "operator": "Equal", "value": "fake", "effect": "NoSchedule"}


def _node(name: str, labels: dict[str, str], cpu: int, memory_gib: int, taints: list[dict[str, str]]) -> dict[str, Any]:
    capacity = {"cpu": str(cpu), "memory": f"{memory_gib}Gi", "pods": "110", "ephemeral-storage": "200Gi"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "type": "kwok", **labels},
            "annotations": {KWOK_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": {"taints": [*taints, FAKE_TAINT]},
        "status": {
            "capacity": capacity,
            "allocatable": capacity,
            "nodeInfo": {"architecture": "amd64", "operatingSystem": "linux", "kubeletVersion": "fake"},
        },
    }


def site_nodes(site: Site) -> list[dict[str, Any]]:
    """Node objects for ``site`` (control plane first, then each worker pool)."""
    nodes: list[dict[str, Any]] = []
    domains = site.failure_domains
    for index in range(site.kubernetes.control_plane.replicas):
        domain = domains[index % len(domains)]
        labels = {
            REGION: site.id,
            ZONE: domain.zone,
            FAILURE_DOMAIN: domain.id,
            POOL: "control-plane",
            CONTROL_PLANE: "",
        }
        taint = [{"key": CONTROL_PLANE, "effect": "NoSchedule"}]
        nodes.append(_node(f"{site.id}-cp-{index + 1}", labels, 8, 32, taint))
    for pool in site.kubernetes.worker_pools:
        domain = site.failure_domain(pool.failure_domain)
        labels = {REGION: site.id, ZONE: domain.zone, FAILURE_DOMAIN: domain.id, POOL: pool.name, **pool.labels}
        for index in range(pool.replicas):
            nodes.append(_node(f"{site.id}-{pool.name}-{index + 1}", labels, pool.cpu, pool.memory_gib, []))
    return nodes
