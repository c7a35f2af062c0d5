"""A site stack makes its Kubernetes cluster through Cluster API, and its tenants run there.

ikn's stack (``infrastructure.kind: docker``, ``workloadCluster: cluster-api``) creates its
ClusterClass and Cluster on cikarang's cluster; the real Cluster API managers reconcile them into
machines (containers of the real-node image, booted with systemd, ``kubeadm init`` and ``join``);
the stack then reads the kubeconfig Cluster API keeps, installs the pod network and the tenant
platform on that cluster, and a tenant's pod runs on the worker. Destroying the stack removes the
machines again.
"""

from __future__ import annotations

import json
import subprocess
import time
from typing import Any

import pytest

from pdn.capi import management
from pdn.capi.management import MACHINE_LABEL, PROVIDERS, container_name
from pdn.kube import parse_time
from pdn.naming import tenant_namespace
from pdn.nodes.podman import podman
from pdn.wait import wait_until

#: The sites of tests/capi/conftest.py (its fixture carries them too).
MANAGEMENT = "cikarang"
WORKLOAD = "ikn"
TENANT = "Otorita Ibu Kota Nusantara"
CapiLab = Any  # tests/capi/conftest.py's CapiLab (conftest modules are not importable)
MACHINE_TIMEOUT = 900.0
ROLE_LABEL = "io.x-k8s.kind.role"
LOAD_BALANCER = "external-load-balancer"
RESOURCES = {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "100m", "memory": "32Mi"}}


def _machines() -> list[dict[str, Any]]:
    found = podman(["ps", "-a", "--filter", f"label={MACHINE_LABEL}={WORKLOAD}", "--format", "json"], check=False)
    return json.loads(found.stdout or "[]") if found.returncode == 0 else []


def _nodes(lab: CapiLab) -> list[dict[str, Any]]:
    return list(json.loads(lab.kubectl("get", "nodes", "-o", "json", workload=True))["items"])


def _ready(node: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"].get("conditions", []))


@pytest.fixture(scope="module")
def stack_up(capi_lab: CapiLab) -> CapiLab:
    from pdn.stacks.runner import run

    (outcome,) = run(capi_lab.workspace, [WORKLOAD], "up", policy=True)  # type: ignore[arg-type]
    capi_lab.outcomes["up"] = outcome
    return capi_lab


def test_the_managers_run_read_only_without_capabilities(capi_lab: CapiLab) -> None:
    assert (capi_lab.management, capi_lab.workload) == (MANAGEMENT, WORKLOAD)
    states = management.status(MANAGEMENT)
    assert all(state in ("ready", "running") for state in states.values()), states
    for item in PROVIDERS:
        info = json.loads(podman(["inspect", container_name(item)]).stdout)[0]
        assert info["HostConfig"]["ReadonlyRootfs"] is True
        assert info["HostConfig"]["Privileged"] is False
        assert not info["EffectiveCaps"], info["EffectiveCaps"]
        assert not info["HostConfig"]["PortBindings"]


def test_the_stack_makes_a_cluster_whose_machines_join(stack_up: CapiLab) -> None:
    outcome = stack_up.outcomes["up"]
    assert outcome.changes.get("create", 0) > 50, outcome  # type: ignore[attr-defined]

    def both_ready() -> bool:
        nodes = _nodes(stack_up)
        return len(nodes) == 2 and all(_ready(node) for node in nodes)

    wait_until("the control-plane machine and the worker to be Ready nodes", both_ready,
               timeout=MACHINE_TIMEOUT, interval=10)  # fmt: skip
    nodes = _nodes(stack_up)
    assert {node["metadata"]["name"] for node in nodes} == _node_containers()
    assert {node["status"]["nodeInfo"]["kubeletVersion"] for node in nodes} == {"v1.34.4"}
    machines = json.loads(stack_up.kubectl("-n", f"pdn-cluster-{WORKLOAD}", "get", "machines", "-o", "json"))
    assert {m["status"].get("phase") for m in machines["items"]} == {"Running"}
    # the hardened kubelets' serving certificates, for logs and exec (nothing approves them by itself)
    since = min(parse_time(m["metadata"]["creationTimestamp"]) for m in machines["items"])
    assert management.approve_machine_certificates(WORKLOAD, stack_up.workload_kubeconfig(), since) == 2


def test_the_load_balancer_is_unprivileged_and_published_on_loopback_only(stack_up: CapiLab) -> None:
    (balancer,) = [c for c in _machines() if c["Labels"].get(ROLE_LABEL) == LOAD_BALANCER]
    info = json.loads(podman(["inspect", balancer["Id"]]).stdout)[0]
    assert info["HostConfig"]["Privileged"] is False
    bindings = [b for ports in (info["NetworkSettings"]["Ports"] or {}).values() for b in ports or []]
    assert bindings and all(b["HostIp"] == "127.0.0.1" for b in bindings)
    listeners = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True, check=True).stdout
    for binding in bindings:
        assert f"0.0.0.0:{binding['HostPort']} " not in listeners and f"*:{binding['HostPort']} " not in listeners


def test_a_tenant_pod_runs_on_the_worker(stack_up: CapiLab) -> None:
    run_tenant_pod(stack_up, "pdn-capi-probe")


def run_tenant_pod(stack_up: CapiLab, name: str) -> None:
    """A restricted pod in the tenant's namespace runs on a worker and prints its word."""
    namespace = tenant_namespace(TENANT)
    stack_up.kubectl("get", "namespace", namespace, workload=True)  # the tenant platform is on this cluster
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "restartPolicy": "Never",
            "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{
                "name": "probe", "image": "localhost/pdn/workload:busybox", "imagePullPolicy": "Never",
                "command": ["/bin/busybox", "echo", "pdn-capi-ok"],
                "resources": RESOURCES,
                "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                    "capabilities": {"drop": ["ALL"]}},
            }],
        },
    }  # fmt: skip
    subprocess.run(
        ["sh", "-c", f"exec {_kubectl_path()} --kubeconfig {stack_up.workload_kubeconfig()} apply -f -"],
        input=json.dumps(pod), text=True, check=True, capture_output=True,
    )  # fmt: skip

    def finished() -> bool:
        phase = stack_up.kubectl("-n", namespace, "get", "pod", name, "-o", "jsonpath={.status.phase}",
                                 workload=True)  # fmt: skip
        return phase in ("Succeeded", "Failed")

    wait_until("the tenant's pod to finish", finished, timeout=300, interval=3)
    got = json.loads(stack_up.kubectl("-n", namespace, "get", "pod", name, "-o", "json", workload=True))
    assert got["status"]["phase"] == "Succeeded", got["status"]
    node = next(n for n in _nodes(stack_up) if n["metadata"]["name"] == got["spec"]["nodeName"])
    assert "node-role.kubernetes.io/control-plane" not in node["metadata"]["labels"]
    assert "pdn-capi-ok" in stack_up.kubectl("-n", namespace, "logs", name, workload=True)


def _kubectl_path() -> str:
    from pdn.toolchain import resolve

    return str(resolve("kubectl"))


def test_pdn_harden_hardens_the_machines_and_they_stay_working_nodes(
    stack_up: CapiLab, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from pdn.capi.machines import write_inventory
    from pdn.harden.runner import run_playbook

    inventory, nodes = write_inventory(tmp_path_factory.mktemp("capi-inventory") / "machines.yml")
    assert {node.role for node in nodes} == {"control-plane", "worker"}
    assert {node.name for node in nodes} == _node_containers()
    hardened = run_playbook(inventory, "harden.yml", label="capi-harden", quiet=True)
    assert hardened.ok, hardened.failures
    print(f"pdn harden of {len(nodes)} machines: {hardened.seconds:.0f} s")
    verified = run_playbook(inventory, "verify.yml", label="capi-verify", quiet=True)
    assert verified.ok, verified.failures
    for node in nodes:
        tables = podman(["exec", node.name, "nft", "list", "tables"]).stdout
        assert "inet pdn_filter" in tables, (node.name, tables)

    def all_ready() -> bool:
        found = _nodes(stack_up)
        return len(found) == len(nodes) and all(_ready(n) for n in found)

    wait_until("the hardened machines to be Ready nodes", all_ready, timeout=300, interval=5)
    run_tenant_pod(stack_up, "pdn-capi-probe-hardened")


def _worker_machines(lab: CapiLab) -> list[dict[str, Any]]:
    machines = json.loads(lab.kubectl("-n", f"pdn-cluster-{WORKLOAD}", "get", "machines", "-o", "json"))["items"]
    return [m for m in machines if "cluster.x-k8s.io/control-plane" not in m["metadata"].get("labels", {})]


def _node_containers() -> set[str]:
    return {c["Names"][0] for c in _machines() if c["Labels"].get(ROLE_LABEL) != LOAD_BALANCER}


def test_scaling_the_pool_in_the_site_model_adds_and_removes_a_worker(stack_up: CapiLab) -> None:
    from pdn.stacks.runner import run

    (before,) = _worker_machines(stack_up)
    started = time.monotonic()
    stack_up.scale_first_pool(2)
    (outcome,) = run(stack_up.workspace, [WORKLOAD], "up", policy=True)  # type: ignore[arg-type]
    assert outcome.changes.get("update", 0) >= 1 and not outcome.changes.get("delete"), outcome

    def grown() -> bool:
        nodes = _nodes(stack_up)
        return len(nodes) == 3 and all(_ready(node) for node in nodes)

    wait_until("a second worker to be a Ready node", grown, timeout=MACHINE_TIMEOUT, interval=5)
    print(f"scale up by one worker: {time.monotonic() - started:.0f} s")
    workers = _worker_machines(stack_up)
    assert len(workers) == 2 and {m["status"].get("phase") for m in workers} == {"Running"}
    assert before["metadata"]["name"] in {m["metadata"]["name"] for m in workers}  # added, not replaced
    assert {n["metadata"]["name"] for n in _nodes(stack_up)} == _node_containers()

    started = time.monotonic()
    stack_up.scale_first_pool(1)
    (outcome,) = run(stack_up.workspace, [WORKLOAD], "up", policy=True)  # type: ignore[arg-type]
    assert outcome.changes.get("update", 0) >= 1 and not outcome.changes.get("delete"), outcome

    def shrunk() -> bool:
        return len(_worker_machines(stack_up)) == 1 and len(_nodes(stack_up)) == 2 and len(_node_containers()) == 2

    wait_until("one worker to be removed with its node and container", shrunk, timeout=MACHINE_TIMEOUT, interval=5)
    print(f"scale down by one worker: {time.monotonic() - started:.0f} s")
    assert all(_ready(node) for node in _nodes(stack_up))
    assert {n["metadata"]["name"] for n in _nodes(stack_up)} == _node_containers()


def test_destroying_the_stack_removes_its_machines(stack_up: CapiLab) -> None:
    from pdn.stacks.runner import run

    started = time.monotonic()
    (outcome,) = run(stack_up.workspace, [WORKLOAD], "destroy", policy=False)  # type: ignore[arg-type]
    assert outcome.changes.get("delete", 0) > 50, outcome
    wait_until("the machines to be removed", lambda: not _machines(), timeout=300, interval=5)
    print(f"destroy and machine removal: {time.monotonic() - started:.0f} s")
