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
    assert {node["status"]["nodeInfo"]["kubeletVersion"] for node in nodes} == {stack_up.version}
    machines = json.loads(stack_up.kubectl("-n", f"pdn-cluster-{WORKLOAD}", "get", "machines", "-o", "json"))
    assert {m["status"].get("phase") for m in machines["items"]} == {"Running"}
    # the hardened kubelets' serving certificates (logs, exec, port-forward), approved by the lab's
    # approver from the Machines (pdn.capi.approver): nothing in the new cluster approves them
    wait_until("the approver to serve both kubelets", lambda: _served_by_approver(stack_up) == _node_containers(),
               timeout=300, interval=3)  # fmt: skip


def _served_by_approver(lab: CapiLab) -> set[str]:
    """Nodes with a kubelet serving certificate the approver approved."""
    requests = json.loads(lab.kubectl("get", "csr", "-o", "json", workload=True))["items"]
    return {
        r["spec"]["username"].removeprefix("system:node:")
        for r in requests
        if r["spec"].get("signerName") == "kubernetes.io/kubelet-serving"
        and any(c.get("reason") == "PdnCapiMachine" for c in (r.get("status") or {}).get("conditions") or [])
        and r.get("status", {}).get("certificate")
    }


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


WEB = "pdn-capi-web"
WEB_REPLY = {"app": WEB}


def _web_app(namespace: str, nodes_subnet: str) -> list[dict[str, Any]]:
    """A tenant's web app as an operator would run one through an upgrade: two replicas, a budget
    that keeps one up while nodes drain, and a moment between leaving the endpoints and stopping;
    its port open to the nodes (the API server's service proxy), the rest as the platform denies."""
    labels = {"app.kubernetes.io/name": WEB}
    container = {
        "name": "web", "image": "localhost/pdn/workload:busybox", "imagePullPolicy": "Never",
        "command": ["/bin/busybox", "httpd", "-f", "-p", "8080", "-h", "/www"],
        "ports": [{"containerPort": 8080}],
        "readinessProbe": {"httpGet": {"path": "/index.html", "port": 8080}, "periodSeconds": 2},
        "lifecycle": {"preStop": {"exec": {"command": ["/bin/busybox", "sleep", "5"]}}},
        "volumeMounts": [{"name": "www", "mountPath": "/www", "readOnly": True}],
        "resources": RESOURCES,
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]}},
    }  # fmt: skip
    pod = {
        "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [container],
        "volumes": [{"name": "www", "configMap": {"name": WEB}}],
        "terminationGracePeriodSeconds": 20,
    }
    meta = {"name": WEB, "namespace": namespace}
    return [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"index.html": json.dumps(WEB_REPLY)}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
         "spec": {"replicas": 2, "selector": {"matchLabels": labels},
                  "template": {"metadata": {"labels": labels}, "spec": pod}}},
        {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": meta,
         "spec": {"minAvailable": 1, "selector": {"matchLabels": labels}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": meta,
         "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": meta,
         "spec": {"podSelector": {"matchLabels": labels}, "policyTypes": ["Ingress"],
                  "ingress": [{"from": [{"ipBlock": {"cidr": nodes_subnet}}], "ports": [{"port": 8080}]}]}},
    ]  # fmt: skip


class Prober:
    """Asks the tenant's web app for its page once a second, through the workload cluster's API
    server (its service proxy: the one way in from this host), and keeps every answer: ``ok``,
    ``app`` (the API server answered for the app: no endpoint, or the endpoint refused) or ``api``
    (the API server itself did not answer)."""

    def __init__(self, kubeconfig: Any, namespace: str) -> None:
        import threading

        from pdn import kube

        self.client = kube.Kube(kubeconfig, timeout=5)
        self.where = f"/api/v1/namespaces/{namespace}/services/{WEB}:80/proxy/index.html"
        self.samples: list[tuple[float, str, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pdn-capi-prober", daemon=True)

    def _once(self) -> tuple[str, str]:
        from pdn.kube import KubeError

        try:
            reply = self.client.request("GET", self.where, timeout=5)
        except KubeError as error:
            text = str(error)
            reached = error.status is not None and ("no endpoints available" in text or "error trying to reach" in text)
            return ("app" if reached else "api"), text[:200]
        return ("ok", "") if reply == WEB_REPLY else ("app", f"unexpected reply {reply!r}"[:200])

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            outcome, detail = self._once()
            self.samples.append((started, outcome, detail))
            self._stop.wait(max(0.0, 1.0 - (time.monotonic() - started)))

    def __enter__(self) -> Prober:
        assert self._once() == ("ok", ""), "the web app must answer before the upgrade"
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def count(self, outcome: str) -> int:
        return sum(1 for _, got, _ in self.samples if got == outcome)

    def longest_gap(self, outcome: str) -> float:
        """The longest run of consecutive ``outcome`` samples, in seconds."""
        longest, first = 0.0, None
        for at, got, _ in self.samples:
            if got == outcome:
                first = at if first is None else first
                longest = max(longest, at - first + 1)
            else:
                first = None
        return longest


def _versions(lab: CapiLab) -> tuple[set[str], set[str], str]:
    machines = json.loads(lab.kubectl("-n", f"pdn-cluster-{WORKLOAD}", "get", "machines", "-o", "json"))["items"]
    nodes = _nodes(lab)
    server = json.loads(lab.kubectl("version", "-o", "json", workload=True))["serverVersion"]["gitVersion"]
    kubelets = {n["status"]["nodeInfo"]["kubeletVersion"] for n in nodes}
    return {m["spec"].get("version", "") for m in machines}, kubelets, server


def test_a_patch_release_in_the_site_model_rolls_every_machine_while_the_tenant_app_answers(
    stack_up: CapiLab,
) -> None:
    from pdn.nodes.kubenode import release
    from pdn.stacks.runner import run

    target = release()
    assert stack_up.version != target and _versions(stack_up)[1] == {stack_up.version}
    namespace = tenant_namespace(TENANT)
    manifest = {"apiVersion": "v1", "kind": "List", "items": _web_app(namespace, management.ensure_kind_network())}
    subprocess.run(
        ["sh", "-c", f"exec {_kubectl_path()} --kubeconfig {stack_up.workload_kubeconfig()} apply -f -"],
        input=json.dumps(manifest), text=True, check=True, capture_output=True,
    )  # fmt: skip
    stack_up.kubectl("-n", namespace, "rollout", "status", f"deployment/{WEB}", "--timeout=300s",
                     workload=True, timeout=330)  # fmt: skip
    before = {m["metadata"]["name"] for m in json.loads(
        stack_up.kubectl("-n", f"pdn-cluster-{WORKLOAD}", "get", "machines", "-o", "json"))["items"]}  # fmt: skip

    with Prober(stack_up.workload_kubeconfig(), namespace) as prober:
        started = time.monotonic()
        stack_up.move_to_release(target)
        (outcome,) = run(stack_up.workspace, [WORKLOAD], "up", policy=True)  # type: ignore[arg-type]
        assert outcome.changes.get("update", 0) >= 1, outcome
        control_plane_done: list[float] = []

        def rolled() -> bool:
            machines, kubelets, server = _versions(stack_up)
            if server == target and not control_plane_done:
                control_plane_done.append(time.monotonic() - started)
            nodes = _nodes(stack_up)
            names = {n["metadata"]["name"] for n in nodes}
            return (machines == {target} and kubelets == {target} and len(nodes) == 2
                    and all(_ready(n) for n in nodes) and names == _node_containers())  # fmt: skip

        wait_until(f"every machine to run {target} as a Ready node", rolled, timeout=2 * MACHINE_TIMEOUT, interval=10)
        seconds = time.monotonic() - started
        stack_up.kubectl("-n", namespace, "rollout", "status", f"deployment/{WEB}", "--timeout=300s",
                         workload=True, timeout=330)  # fmt: skip
    after = {m["metadata"]["name"] for m in json.loads(
        stack_up.kubectl("-n", f"pdn-cluster-{WORKLOAD}", "get", "machines", "-o", "json"))["items"]}  # fmt: skip
    print(
        f"upgrade {stack_up.upgrade_from[0]} -> {target}: {seconds:.0f} s (API server at {target} after "
        f"{control_plane_done[0] if control_plane_done else float('nan'):.0f} s); probes: {len(prober.samples)}, "
        f"ok {prober.count('ok')}, app down {prober.count('app')}, API unreachable {prober.count('api')} "
        f"(longest {prober.longest_gap('api'):.0f} s)"
    )
    assert not before & after, "every machine is replaced by one of the new release"
    assert _served_by_approver(stack_up) >= _node_containers()  # the new kubelets too
    proxy = stack_up.kubectl("-n", "kube-system", "get", "daemonset", "kube-proxy", "-o",
                             "jsonpath={.spec.template.spec.containers[0].image}", workload=True)  # fmt: skip
    assert proxy == f"registry.k8s.io/kube-proxy:{target}"
    app_down = [(round(at - started), detail) for at, got, detail in prober.samples if got == "app"]
    assert not app_down, f"the API server answered for the app, and the app was not there: {app_down[:5]}"
    assert prober.count("ok") > 0.5 * len(prober.samples), prober.samples[-5:]


def test_destroying_the_stack_removes_its_machines(stack_up: CapiLab) -> None:
    from pdn.stacks.runner import run

    started = time.monotonic()
    (outcome,) = run(stack_up.workspace, [WORKLOAD], "destroy", policy=False)  # type: ignore[arg-type]
    assert outcome.changes.get("delete", 0) > 50, outcome
    wait_until("the machines to be removed", lambda: not _machines(), timeout=300, interval=5)
    print(f"destroy and machine removal: {time.monotonic() - started:.0f} s")
