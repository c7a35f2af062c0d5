"""Kubelet serving certificates of a workload cluster's machines, approved from what Cluster API knows.

The machines' hardened kubelets ask for their serving certificate by a CSR (``serverTLSBootstrap``),
which nothing in a new cluster approves. Until one is approved the API server cannot reach that
kubelet: no logs, exec or port-forward, and KubeadmControlPlane, which reads etcd's health through
a port-forward to the etcd pod, never finishes a rollout (measured: during an upgrade the old
control-plane machine waited in ``Deleting`` on its pre-terminate hook, the new one reporting
"Failed to connect to etcd").

``python -m pdn.capi.approver`` runs beside the Docker API proxy while the management plane is up
(:func:`pdn.capi.management.service_specs`) and, every few seconds, approves a request only when a
Machine of the workload's Cluster (written by Cluster API on the management cluster, not by the
kubelet) has the node's name, the request was made after that Machine, and it asks for nothing but
the Machine's name and its addresses. It reads the management cluster as ``pdn:capi:csr-approver``
(a ClusterRole that lists Machines and reads only the workload's kubeconfig Secret) and the
workload cluster with that Secret's kubeconfig, Cluster API's own.
"""

from __future__ import annotations

import argparse
import base64
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from pdn import kube
from pdn.errors import PdnError
from pdn.lab.kube_addons import ServingNode, approve_serving_requests
from pdn.lab.kubeconfig import write_kubeconfig
from pdn.naming import cluster_api_namespace

LOG = logging.getLogger("pdn.capi.approver")
USER = "pdn:capi:csr-approver"
INTERVAL = 3.0
ADDRESS_TYPES = ("InternalIP", "ExternalIP", "Hostname", "InternalDNS", "ExternalDNS")


def rbac(workload: str) -> list[dict[str, Any]]:
    """The approver's rights on the management cluster: list Machines, read one Secret."""
    name = "pdn-capi-csr-approver"
    rules = [
        {"apiGroups": ["cluster.x-k8s.io"], "resources": ["machines"], "verbs": ["get", "list"]},
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"], "resourceNames": [f"{workload}-kubeconfig"]},
    ]
    return [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": name},
         "rules": rules},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": name},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
         "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": USER}]},
    ]  # fmt: skip


def serving_nodes(machines: list[dict[str, Any]]) -> dict[str, ServingNode]:
    """Node name -> what its kubelet may ask for, for every Machine that has a node."""
    nodes = {}
    for machine in machines:
        status = machine.get("status") or {}
        name = (status.get("nodeRef") or {}).get("name") or machine["metadata"]["name"]
        names = {name, *(a["address"] for a in status.get("addresses") or [] if a.get("type") in ADDRESS_TYPES)}
        nodes[name] = ServingNode(names, kube.parse_time(str(machine["metadata"]["creationTimestamp"])))
    return nodes


class Approver:
    """One workload cluster's approvals; :meth:`once` is one pass."""

    def __init__(self, management: kube.Kube, workload: str, state: Path) -> None:
        self.management = management
        self.workload = workload
        self.kubeconfig = state / f"{workload}-workload.kubeconfig"
        self.served: set[str] = set()

    def _workload_client(self) -> kube.Kube | None:
        where = kube.path("v1", "secrets", cluster_api_namespace(self.workload), f"{self.workload}-kubeconfig")
        secret = self.management.get(where)
        if secret is None:  # no Cluster yet, or it is gone
            return None
        write_kubeconfig(self.kubeconfig, base64.b64decode(secret["data"]["value"]).decode())
        return kube.Kube(self.kubeconfig, timeout=10)

    def once(self) -> set[str]:
        """Approve what is due now; returns the nodes served (approved now or before)."""
        where = kube.path("cluster.x-k8s.io/v1beta2", "machines", cluster_api_namespace(self.workload))
        machines = self.management.list_items(where, label_selector=f"cluster.x-k8s.io/cluster-name={self.workload}")
        client = self._workload_client() if machines else None
        if client is None:
            return set()
        served = approve_serving_requests(
            client, serving_nodes(machines), "PdnCapiMachine", "a Machine of this Cluster"
        )
        for name in sorted(served - self.served):
            LOG.info("kubelet serving certificate of %s approved or found approved", name)
        self.served = served
        return served


def run(approver: Approver, stop: threading.Event, interval: float = INTERVAL) -> None:
    """Pass after pass until ``stop``; an unreachable cluster is logged and tried again."""
    while not stop.is_set():
        try:
            approver.once()
        except PdnError as error:
            LOG.warning("%s", error)
        stop.wait(interval)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pdn.capi.approver",
        description="Approve the kubelet serving certificates of a Cluster API workload cluster's machines.",
    )
    parser.add_argument("--kubeconfig", type=Path, required=True, help="the management cluster, as " + USER)
    parser.add_argument("--workload", required=True, help="the workload site (its Cluster's name)")
    parser.add_argument("--state", type=Path, required=True, help="owner-only folder for the workload kubeconfig")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    args.state.mkdir(mode=0o700, parents=True, exist_ok=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    run(Approver(kube.Kube(args.kubeconfig), args.workload, args.state), stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
