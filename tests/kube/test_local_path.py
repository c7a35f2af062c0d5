"""Volumes on real nodes: local-path-provisioner gives a restricted tenant's claim a folder on the
node its pod runs on, the data outlives the pod, and the folder goes with the claim.

Every claim is checked for real: the claim stays Pending until a pod needs it, the pod runs under
Pod Security ``restricted`` as a non-root user with an fsGroup, the bytes are read back by a second
pod and inside the node container, and the helper pods leave nothing behind.
"""

from __future__ import annotations

import re
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from pdn import kube
from pdn.wait import wait_until

WORKLOAD = "localhost/pdn/workload:busybox"
FS_GROUP = 2345
RESTRICTED = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True,
    "runAsUser": 65534,
    "seccompProfile": {"type": "RuntimeDefault"},
}
#: Writes 64 KiB of random bytes into a sub-folder (so the teardown must remove what the pod owns),
#: then prints their SHA-256 and the volume root's group and mode.
WRITE = (
    "set -e; b=/bin/busybox; $b mkdir /data/sub; $b head -c 65536 /dev/urandom > /data/sub/blob; "
    "$b sha256sum /data/sub/blob; $b stat -c 'root %g %a' /data"
)
READ = "set -e; /bin/busybox sha256sum /data/sub/blob"


def client(site: Any) -> kube.Kube:
    return kube.Kube(site.kubeconfig)


def volume_pod(ns: str, name: str, claim: str, script: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 65534,
                "fsGroup": FS_GROUP,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": "main",
                    "image": WORKLOAD,
                    "imagePullPolicy": "Never",
                    "command": ["/bin/busybox", "sh", "-c", script],
                    "securityContext": RESTRICTED,
                    "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "32Mi"}},
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                }
            ],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}],
        },
    }


def finished(site: Any, ns: str, name: str, timeout: float = 180) -> dict[str, Any]:
    """The pod once it Succeeded; its events and the provisioner's log in the message otherwise."""
    where = kube.path("v1", "pods", ns, name)

    def phase(pod: dict[str, Any] | None) -> str:
        return str(((pod or {}).get("status") or {}).get("phase", "absent"))

    try:
        pod = wait_until(
            f"pod {ns}/{name} Succeeded",
            lambda: client(site).get(where),
            lambda found: phase(found) in {"Succeeded", "Failed"},
            timeout=timeout,
            interval=1,
            describe=phase,
        )
    except Exception as error:
        raise AssertionError(f"{error}\n{diagnostics(site, ns)}") from None
    assert pod is not None and phase(pod) == "Succeeded", f"{name}: {logs(site, ns, name)}\n{diagnostics(site, ns)}"
    return pod


def logs(site: Any, ns: str, name: str) -> str:
    return str(site.kubectl("logs", "-n", ns, name, check=False).stdout)


def diagnostics(site: Any, ns: str) -> str:
    events = site.kubectl("get", "events", "-n", ns, check=False).stdout[-2000:]
    provisioner = site.kubectl(
        "logs", "-n", "local-path-storage", "deployment/local-path-provisioner", "--tail=30", check=False
    ).stdout
    return f"events of {ns}:\n{events}\nprovisioner:\n{provisioner}"


def on_node(node: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", "exec", node, *argv], capture_output=True, text=True, check=False, timeout=60)


def test_provisioner_runs_on_a_real_node_with_least_privilege(real_site: Any) -> None:
    from pdn.lab.kube_addons import LOCAL_PATH, LOCAL_PATH_NAMESPACE

    pods = client(real_site).list_items(kube.path("v1", "pods", LOCAL_PATH_NAMESPACE), f"app={LOCAL_PATH}")
    assert [pod["status"]["phase"] for pod in pods] == ["Running"]
    assert pods[0]["spec"]["nodeName"] in real_site.nodes
    classes = client(real_site).list_items(kube.path("storage.k8s.io/v1", "storageclasses"))
    defaults = [
        c["metadata"]["name"]
        for c in classes
        if (c["metadata"].get("annotations") or {}).get("storageclass.kubernetes.io/is-default-class") == "true"
    ]
    assert defaults == ["local-path"]
    account = f"system:serviceaccount:{LOCAL_PATH_NAMESPACE}:{LOCAL_PATH}"
    expected = {
        ("create", "persistentvolumes", None): "yes",
        ("create", "pods", LOCAL_PATH_NAMESPACE): "yes",
        ("create", "pods", "default"): "no",
        ("get", "secrets", LOCAL_PATH_NAMESPACE): "no",
        ("get", "configmaps", LOCAL_PATH_NAMESPACE): "no",
        ("update", "leases.coordination.k8s.io", LOCAL_PATH_NAMESPACE): "no",
        ("delete", "persistentvolumeclaims", "default"): "no",
    }
    for (verb, resource, ns), answer in expected.items():
        where = ["-n", ns] if ns else []
        done = real_site.kubectl("auth", "can-i", verb, resource, *where, f"--as={account}", check=False)
        assert done.stdout.strip() == answer, f"can {account} {verb} {resource} in {ns}? {done.stdout}{done.stderr}"


def test_reapplying_the_storage_addon_changes_nothing(real_site: Any) -> None:
    from pdn.lab.kube_addons import apply_storage_addon, local_path_objects
    from pdn.nodes.podimages import pod_images
    from pdn.sites import load_sites

    site = load_sites().site(real_site.site)
    images = {image.recipe: image.name for image in pod_images(site.kubernetes.version)}
    api = client(real_site)
    where = [api.object_path(obj) for obj in local_path_objects(images["local-path-provisioner"], images["workload"])]

    def versions() -> dict[str, str]:
        found = {path: api.get(path) for path in where}
        assert all(found.values()), [path for path, obj in found.items() if obj is None]
        return {path: obj["metadata"]["resourceVersion"] for path, obj in found.items() if obj}

    before = versions()
    apply_storage_addon(site)
    assert versions() == before, "a second apply of the same add-on changed objects"


@pytest.fixture
def tenant(real_site: Any) -> Iterator[str]:
    """A Pod Security ``restricted`` namespace, removed after the test."""
    ns = f"vol-{uuid.uuid4().hex[:6]}"
    labels = {f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "warn", "audit")}
    client(real_site).create(
        kube.path("v1", "namespaces"),
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": labels}},
    )
    yield ns
    client(real_site).delete(kube.path("v1", "namespaces", name=ns))


def test_claim_binds_for_a_restricted_pod_keeps_its_bytes_and_goes_with_the_claim(real_site: Any, tenant: str) -> None:
    api = client(real_site)
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data", "namespace": tenant},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "64Mi"}}},
    }  # no storageClassName: the default class
    api.create(kube.path("v1", "persistentvolumeclaims", tenant), claim)
    claim_path = kube.path("v1", "persistentvolumeclaims", tenant, "data")
    pending = api.get(claim_path)
    assert pending is not None and pending["spec"]["storageClassName"] == "local-path"
    assert pending["status"]["phase"] == "Pending" and not pending["spec"].get("volumeName"), "bound before any pod"

    api.create(kube.path("v1", "pods", tenant), volume_pod(tenant, "writer", "data", WRITE))
    writer = finished(real_site, tenant, "writer")
    node = writer["spec"]["nodeName"]
    assert node in real_site.nodes
    output = logs(real_site, tenant, "writer")
    written = re.search(r"^([0-9a-f]{64})\s+/data/sub/blob$", output, re.M)
    assert written, output
    # the kubelet gave the volume the pod's fsGroup: group-writable with setgid, nothing for others
    assert f"root {FS_GROUP} 2770" in output, output

    bound = api.get(claim_path)
    assert bound is not None and bound["status"]["phase"] == "Bound"
    volume_name = bound["spec"]["volumeName"]
    volume = api.get(kube.path("v1", "persistentvolumes", name=volume_name))
    assert volume is not None and volume["spec"]["storageClassName"] == "local-path"
    folder = volume["spec"]["local"]["path"]
    assert folder.startswith("/var/lib/pdn/local-path/") and folder.count("/") == 5, folder
    [term] = volume["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"]
    assert term["matchExpressions"][0]["values"] == [node]
    inside = on_node(node, "sha256sum", f"{folder}/sub/blob")
    assert inside.returncode == 0 and inside.stdout.split()[0] == written.group(1), inside

    api.delete(kube.path("v1", "pods", tenant, "writer"))
    wait_until("writer pod gone", lambda: api.get(kube.path("v1", "pods", tenant, "writer")), lambda p: p is None,
               timeout=120, interval=1)  # fmt: skip
    api.create(kube.path("v1", "pods", tenant), volume_pod(tenant, "reader", "data", READ))
    reader = finished(real_site, tenant, "reader")
    assert reader["spec"]["nodeName"] == node, "the volume's node affinity must bring the reader to its node"
    read = re.search(r"^([0-9a-f]{64})\s+/data/sub/blob$", logs(real_site, tenant, "reader"), re.M)
    assert read and read.group(1) == written.group(1), "the second pod read other bytes"

    api.delete(kube.path("v1", "pods", tenant, "reader"))
    api.delete(claim_path)
    volume_path = kube.path("v1", "persistentvolumes", name=volume_name)
    try:
        wait_until(f"volume {volume_name} deleted", lambda: api.get(volume_path), lambda v: v is None,
                   timeout=180, interval=1, describe=lambda v: str((v or {}).get("status")))  # fmt: skip
    except Exception as error:
        raise AssertionError(f"{error}\n{diagnostics(real_site, tenant)}") from None
    assert on_node(node, "test", "-e", folder).returncode != 0, f"{folder} is still on {node}"
    # the helper pods that made and removed the folder are gone too
    from pdn.lab.kube_addons import LOCAL_PATH, LOCAL_PATH_NAMESPACE

    def helpers() -> list[str]:
        pods = api.list_items(kube.path("v1", "pods", LOCAL_PATH_NAMESPACE))
        return [p["metadata"]["name"] for p in pods if (p["metadata"].get("labels") or {}).get("app") != LOCAL_PATH]

    wait_until("the helper pods gone", helpers, lambda names: not names, timeout=60, interval=1)
