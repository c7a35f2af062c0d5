"""Real nodes: kubeadm-joined Debian node containers run real pods on a lab site.

Every claim is checked with running pods and real connections: a restricted Deployment spread over
both nodes, a Service and DNS across nodes, a node restart, the host's kernel untouched, and a
``pdn lab down`` that leaves nothing behind.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

WORKLOAD = "localhost/pdn/workload:busybox"
RESTRICTED = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True,
    "runAsUser": 65534,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def container(name: str, script: str, port: int | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": name,
        "image": WORKLOAD,
        "imagePullPolicy": "Never",
        "command": ["/bin/busybox", "sh", "-c", script],
        "securityContext": RESTRICTED,
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "100m", "memory": "32Mi"}},
        "volumeMounts": [{"name": "www", "mountPath": "/www"}],
    }
    if port:
        spec["ports"] = [{"containerPort": port}]
        spec["readinessProbe"] = {"httpGet": {"path": "/", "port": port}, "periodSeconds": 2}
    return spec


SERVE = "/bin/busybox hostname > /www/index.html && exec /bin/busybox httpd -f -p 8080 -h /www"
SLEEP = "exec /bin/busybox sleep 3600"


def namespace(name: str) -> dict[str, Any]:
    enforce = {f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "warn", "audit")}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": enforce}}


def deployment(ns: str, name: str, replicas: int, script: str, port: int | None, spread: bool) -> dict[str, Any]:
    labels = {"app": name}
    pod: dict[str, Any] = {
        "containers": [container(name, script, port)],
        "volumes": [{"name": "www", "emptyDir": {}}],
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "automountServiceAccountToken": False,
    }
    if spread:
        pod["topologySpreadConstraints"] = [
            {"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "DoNotSchedule",
             "labelSelector": {"matchLabels": labels}}
        ]  # fmt: skip
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": pod}},
    }  # fmt: skip


def service(ns: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"selector": {"app": name}, "ports": [{"port": 8080, "targetPort": 8080}]},
    }


def apply(site: Any, *objects: dict[str, Any]) -> None:
    document = json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objects)})
    done = subprocess.run(
        [*_kubectl_base(site), "apply", "--server-side", "-f", "-"],
        input=document,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def _kubectl_base(site: Any) -> list[str]:
    from pdn.toolchain import resolve

    return [str(resolve("kubectl")), "--kubeconfig", str(site.kubeconfig)]


def kubectl_wait(site: Any, ns: str, what: str, *args: str, timeout: int = 180) -> None:
    """``kubectl ARGS --timeout``; on failure the namespace's pods and events go into the message."""
    done = site.kubectl(*args, "-n", ns, f"--timeout={timeout}s", check=False, timeout=timeout + 30)
    if done.returncode != 0:
        pods = site.kubectl("get", "pods", "-n", ns, "-o", "wide", check=False).stdout
        events = site.kubectl("get", "events", "-n", ns, check=False).stdout[-2000:]
        raise AssertionError(f"{what}: {done.stderr}\n{pods}\n{events}")


def wait_rollout(site: Any, ns: str, name: str, timeout: int = 180) -> None:
    kubectl_wait(site, ns, f"{ns}/{name} did not roll out", "rollout", "status", f"deployment/{name}", timeout=timeout)


def pods(site: Any, ns: str, app: str) -> list[dict[str, Any]]:
    listing = site.kubectl("get", "pods", "-n", ns, "-l", f"app={app}", "-o", "json").stdout
    return list(json.loads(listing)["items"])


def fetch(site: Any, ns: str, pod: str, host: str, port: int = 8080, timeout: int = 3) -> str:
    """The last line of an HTTP answer from ``host:port``, asked from inside ``pod`` ('' if none).

    busybox's ``nc`` speaks the request: its static ``wget`` crashes on this glibc build.
    """
    request = (
        f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | /bin/busybox nc -w {timeout} {host} {port} | /bin/busybox tail -n 1"
    )
    done = site.kubectl("exec", "-n", ns, pod, "--", "/bin/busybox", "sh", "-c", request, check=False, timeout=60)
    return done.stdout.strip() if done.returncode == 0 else ""


@pytest.fixture(scope="module")
def web(real_site: Any) -> str:
    """A restricted namespace with a two-replica web Deployment spread over both nodes, and a client."""
    ns = f"web-{uuid.uuid4().hex[:6]}"
    apply(real_site, namespace(ns))
    apply(
        real_site,
        deployment(ns, "web", 2, SERVE, 8080, spread=True),
        service(ns, "web"),
        deployment(ns, "client", 1, SLEEP, None, spread=False),
    )
    wait_rollout(real_site, ns, "web")
    wait_rollout(real_site, ns, "client")
    return ns


def test_nodes_are_real_and_labelled_from_the_site_model(real_site: Any) -> None:
    from pdn.sites import load_sites

    site = load_sites().site(real_site.site)
    nodes = json.loads(real_site.kubectl("get", "nodes", "-l", "pdn.go.id/node-kind=real", "-o", "json").stdout)[
        "items"
    ]
    assert sorted(node["metadata"]["name"] for node in nodes) == sorted(real_site.nodes)
    zones = {domain.zone for domain in site.failure_domains}
    for node in nodes:
        labels = node["metadata"]["labels"]
        info = node["status"]["nodeInfo"]
        ready = {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"]
        assert ready == "True", node["status"]["conditions"]
        assert info["kubeletVersion"] == site.kubernetes.version
        assert info["containerRuntimeVersion"].startswith("containerd://")
        assert labels["topology.kubernetes.io/region"] == site.id
        assert labels["topology.kubernetes.io/zone"] in zones
        assert labels["pdn.go.id/pool"] in {pool.name for pool in site.kubernetes.worker_pools}
        assert "kwok.x-k8s.io/node" not in node["metadata"].get("annotations", {})


def test_restricted_deployment_runs_on_both_nodes(real_site: Any, web: str) -> None:
    running = pods(real_site, web, "web")
    assert len(running) == 2
    assert {pod["status"]["phase"] for pod in running} == {"Running"}
    assert {pod["spec"]["nodeName"] for pod in running} == set(real_site.nodes)


def test_service_and_dns_answer_from_both_nodes(real_site: Any, web: str) -> None:
    client = pods(real_site, web, "client")[0]["metadata"]["name"]
    backends = {pod["metadata"]["name"] for pod in pods(real_site, web, "web")}
    seen: set[str] = set()
    deadline = time.monotonic() + 120
    while seen != backends and time.monotonic() < deadline:
        answer = fetch(real_site, web, client, f"web.{web}.svc.cluster.local")
        if answer:
            seen.add(answer)
    assert seen == backends, f"answers came from {seen}, backends are {backends}"


def test_hardening_keeps_the_nodes_ready_and_pods_running(real_site: Any, web: str) -> None:
    """The playbooks run on joined nodes, so the kubelet and containerd tasks run for real."""
    from pdn.harden.runner import run_playbook
    from pdn.lab.nodes_bridge import inventory_path

    hardened = run_playbook(inventory_path(), label="kube-nodes", quiet=True)
    assert hardened.ok, f"hardening failed: {hardened.failures} (log {hardened.log})"
    for name in real_site.nodes:
        mode = subprocess.run(["podman", "exec", name, "stat", "-c", "%a", "/var/lib/kubelet/config.yaml"],
                              capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
        assert mode == "600"
    from pdn.lab.kube_addons import wait_nodes_ready
    from pdn.sites import load_sites

    wait_nodes_ready(load_sites().site(real_site.site), real_site.nodes, 180)
    wait_rollout(real_site, web, "web", timeout=180)
    test_service_and_dns_answer_from_both_nodes(real_site, web)


def test_hardened_node_restart_brings_pods_back(real_site: Any, web: str) -> None:
    """A hardened node (its firewall, kubelet settings and sysctls now in force at boot) comes back
    Ready after a restart, with its pods Running and the Service answering again."""
    victim = pods(real_site, web, "web")[0]["spec"]["nodeName"]
    subprocess.run(["podman", "restart", "--time", "10", victim], check=True, capture_output=True, timeout=180)
    from pdn.lab.kube_addons import wait_nodes_ready
    from pdn.sites import load_sites

    wait_nodes_ready(load_sites().site(real_site.site), [victim], 240)
    wait_rollout(real_site, web, "web", timeout=240)
    running = pods(real_site, web, "web")
    assert {pod["spec"]["nodeName"] for pod in running} == set(real_site.nodes)
    assert all(c["ready"] for pod in running for c in pod["status"]["containerStatuses"])
    test_service_and_dns_answer_from_both_nodes(real_site, web)


def test_kube_bench_node_checks_pass_or_are_waived(real_site: Any, web: str) -> None:
    from pdn.harden import kubebench
    from pdn.nodes import list_nodes

    for node in list_nodes(real_site.site):
        result = kubebench.run(node)
        assert result.error is None, f"{node.name}: {result.error}"
        assert len(result.states) >= 20, f"{node.name}: kube-bench judged only {len(result.states)} checks"
        unwaived = {check: result.texts[check] for check in result.unwaived}
        assert not unwaived, f"{node.name}: not passed and not waived: {unwaived}"


# --- tenant isolation, measured with connections between pods of the deployed stack's tenants ---

TENANT_A, TENANT_B = "Kementerian Keuangan", "Kementerian Kesehatan"  # two tenants of stacks/Pulumi.cikarang.yaml


def pod(ns: str, name: str, script: str, port: int | None = None) -> dict[str, Any]:
    spec = {
        "containers": [container(name, script, port)],
        "volumes": [{"name": "www", "emptyDir": {}}],
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "automountServiceAccountToken": False,
    }
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
            "spec": spec}  # fmt: skip


def wait_running(site: Any, ns: str, names: list[str], timeout: int = 180) -> None:
    pods = (f"pod/{name}" for name in names)
    kubectl_wait(site, ns, f"pods of {ns} did not start", "wait", "--for=condition=Ready", *pods, timeout=timeout)


def pod_ip(site: Any, ns: str, name: str) -> str:
    return str(json.loads(site.kubectl("get", "pod", name, "-n", ns, "-o", "json").stdout)["status"]["podIP"])


@pytest.fixture(scope="module")
def tenants(real_site: Any, web: str) -> dict[str, str]:
    """The site's stack deployed by Pulumi on the real-node cluster; a web server and a client in two
    of its tenants (namespace by tenant name)."""
    from pdn import naming
    from pdn.stacks import crds
    from pdn.stacks.runner import run
    from pdn.stacks.workspace import lab_workspace

    [outcome] = run(lab_workspace([real_site.site], crds.fetch()), [real_site.site], "up", policy=True)
    assert outcome.resources > 0, outcome
    names = {"a": naming.tenant_namespace(TENANT_A), "b": naming.tenant_namespace(TENANT_B)}
    for ns in names.values():
        apply(real_site, pod(ns, "web", SERVE, 8080), service(ns, "web"), pod(ns, "client", SLEEP))
    for ns in names.values():
        wait_running(real_site, ns, ["web", "client"])
    return names


def reaches(site: Any, ns: str, client: str, host: str, port: int = 8080) -> bool:
    """Whether ``client`` in ``ns`` gets an HTTP answer from ``host:port`` (tried a few times, so a
    policy still being programmed does not count as blocked, nor a slow first answer as open)."""
    return any(fetch(site, ns, client, host, port) for _ in range(3))


def test_tenant_reaches_its_own_pods_and_service_by_dns(real_site: Any, tenants: dict[str, str]) -> None:
    a = tenants["a"]
    assert reaches(real_site, a, "client", pod_ip(real_site, a, "web")), "same-tenant pod IP is blocked"
    assert reaches(real_site, a, "client", f"web.{a}.svc.cluster.local"), "same-tenant Service by DNS fails"


def test_tenant_cannot_reach_another_tenant(real_site: Any, tenants: dict[str, str]) -> None:
    a, b = tenants["a"], tenants["b"]
    service_ip = json.loads(real_site.kubectl("get", "service", "web", "-n", a, "-o", "json").stdout)["spec"][
        "clusterIP"
    ]
    for target in (pod_ip(real_site, a, "web"), service_ip, f"web.{a}.svc.cluster.local"):
        assert not fetch(real_site, b, "client", target), f"tenant {b} reached {target} in {a}"
    # and the other way round, so the answer above is the policy, not a broken tenant
    assert reaches(real_site, b, "client", f"web.{b}.svc.cluster.local")
    assert not fetch(real_site, a, "client", f"web.{b}.svc.cluster.local"), f"tenant {a} reached {b}"


def test_tenant_egress_follows_the_baseline(real_site: Any, tenants: dict[str, str], web: str) -> None:
    """Egress: DNS and the own namespace only: no pod outside the tenant, not the API server."""
    a = tenants["a"]
    outside = pods(real_site, web, "web")[0]
    outside_ip = outside["status"]["podIP"]
    # the same server answers a pod of its own namespace, which has no policy...
    client = pods(real_site, web, "client")[0]["metadata"]["name"]
    assert fetch(real_site, web, client, outside_ip), "control: the server outside the tenant does not answer"
    # ...but not the tenant, whose egress is closed
    assert not fetch(real_site, a, "client", outside_ip), "a tenant pod reached a pod outside its tenant"
    api = json.loads(real_site.kubectl("get", "service", "kubernetes", "-n", "default", "-o", "json").stdout)
    assert not fetch(real_site, a, "client", api["spec"]["clusterIP"], 443), "a tenant pod reached the API server"
    # ingress too: a pod outside the tenant cannot open the tenant's server
    assert not fetch(real_site, web, client, pod_ip(real_site, a, "web")), "an outside pod reached a tenant pod"


def test_lab_down_keeps_real_nodes_and_lab_up_restarts_them(real_site: Any, web: str) -> None:
    """``lab down`` (no purge) only stops real nodes; ``lab up`` restarts the same containers,
    which come back as members of the kept cluster (no new join) with their pods Running."""
    from pdn.lab import runtime
    from pdn.lab.nodes_bridge import resume_node_containers, start_real_nodes, stop_node_containers
    from pdn.up import plan_sites

    def identities() -> dict[str, tuple[str, str]]:
        listing = json.loads(real_site.kubectl("get", "nodes", "-l", "pdn.go.id/node-kind=real", "-o", "json").stdout)
        containers = {
            name: subprocess.run(["podman", "inspect", "--format", "{{.Id}}", name], capture_output=True, text=True,
                                 check=True).stdout.strip()
            for name in real_site.nodes
        }  # fmt: skip
        return {
            n["metadata"]["name"]: (n["metadata"]["uid"], containers[n["metadata"]["name"]]) for n in listing["items"]
        }

    before = identities()
    lab_sites = plan_sites([real_site.site]).lab
    for site in lab_sites:
        stop_node_containers(site, keep_real=True)
    runtime.down(lab_sites)
    for name in real_site.nodes:
        state = subprocess.run(["podman", "inspect", "--format", "{{.State.Status}}", name], capture_output=True,
                               text=True, check=True).stdout.strip()  # fmt: skip
        assert state == "exited", f"{name}: {state}: lab down must stop a real node, not remove it"
    resume_node_containers(lab_sites)
    runtime.up(lab_sites)
    start_real_nodes([real_site.site], len(real_site.nodes))
    assert identities() == before, "the nodes were re-created or re-registered instead of restarted"
    wait_rollout(real_site, web, "web", timeout=240)
    test_service_and_dns_answer_from_both_nodes(real_site, web)


def test_every_node_has_its_own_systemd_cgroup_tree(real_site: Any, web: str) -> None:
    """On cgroup v1 podman hands a node the host's whole name=systemd hierarchy; a node's systemd
    must live in its own tree (else it removes the other nodes' cgroups and exec into them fails)."""
    for node in real_site.nodes:
        lines = subprocess.run(["podman", "exec", node, "cat", "/proc/1/cgroup"], capture_output=True, text=True,
                               check=True).stdout.splitlines()  # fmt: skip
        named = next(line.split(":", 2)[2] for line in lines if ":name=systemd:" in line)
        assert named == "/init.scope", f"{node}: systemd sits in {named} of the name=systemd hierarchy"
        listing = subprocess.run(["podman", "exec", node, "ls", "/sys/fs/cgroup/systemd"], capture_output=True,
                                 text=True, check=True).stdout.split()  # fmt: skip
        assert "libpod_parent" not in listing and "release_agent" not in listing, listing


def test_host_kernel_settings_unchanged(real_site: Any, web: str) -> None:
    before, after = real_site.host_before, real_site.host_now()
    changed = {key: (before[key], after.get(key)) for key in before if before[key] != after.get(key)}
    assert not changed, f"the nodes changed host-global kernel settings: {changed}"
    # What the kubelet's protectKernelDefaults check wants differs from this host's values, so the
    # nodes did see other values than the host has: proof that the shield, not luck, kept them apart.
    node = real_site.nodes[0]
    inside = subprocess.run(["podman", "exec", node, "cat", "/proc/sys/kernel/panic"], capture_output=True, text=True,
                            check=True).stdout.strip()  # fmt: skip
    assert inside == "10"
    write = subprocess.run(["podman", "exec", node, "sh", "-c", "echo 0 > /proc/sys/kernel/sysrq"], capture_output=True,
                           text=True, check=False)  # fmt: skip
    assert write.returncode != 0, "a node could write a host-global kernel setting"
    # and what acts on the host as a whole is out of every node process's reach (chrony, modprobe…)
    bounding = subprocess.run(["podman", "exec", node, "grep", "CapBnd", "/proc/1/status"], capture_output=True,
                              text=True, check=True).stdout.split()[1]  # fmt: skip
    for bit in (16, 17, 25, 30, 35):  # sys_module, sys_rawio, sys_time, audit_control, wake_alarm
        assert not int(bounding, 16) >> bit & 1, f"capability bit {bit} is still in the bounding set"


def test_lab_down_leaves_nothing(real_site: Any) -> None:
    from pdn.lab import runtime, sitenet
    from pdn.lab.nodes_bridge import stop_node_containers
    from pdn.nodes.runtime import containerd_volume

    stop_node_containers(real_site.site)
    runtime.down([real_site.site], purge=True)
    containers = subprocess.run(["podman", "ps", "-a", "--format", "{{.Names}}"], capture_output=True, text=True,
                                check=True).stdout.split()  # fmt: skip
    assert not set(real_site.nodes) & set(containers)
    volumes = subprocess.run(["podman", "volume", "ls", "--format", "{{.Name}}"], capture_output=True, text=True,
                             check=True).stdout.split()  # fmt: skip
    assert not {containerd_volume(name) for name in real_site.nodes} & set(volumes)
    assert subprocess.run(["podman", "network", "exists", sitenet.network_name(real_site.site)], check=False).returncode
    mounts = Path("/proc/self/mountinfo").read_text(encoding="utf-8")
    assert not any(name in mounts for name in real_site.nodes)
    from pdn.lab.processes import running_pid

    for bridge in sitenet.gateway_bridges(real_site.site):
        assert running_pid(bridge) is None, f"the {bridge.name} still runs"
