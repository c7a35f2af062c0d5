"""The local-path storage add-on of real-node sites as data: class, RBAC, Deployment, helper pod."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from pdn.lab import kube_addons
from pdn.nodes.podimages import pod_images
from pdn.sites import load_sites
from pdn.toolchain.lock import load_lock

SITE = load_sites().site("cikarang")
WORKLOAD = "localhost/pdn/workload:busybox"
IMAGES = {image.recipe: image.name for image in pod_images(SITE.kubernetes.version)}
OBJECTS = kube_addons.local_path_objects(IMAGES["local-path-provisioner"], IMAGES["workload"])


def one(kind: str) -> dict[str, Any]:
    [found] = [obj for obj in OBJECTS if obj["kind"] == kind]
    return found


def test_the_unit_is_static_pinned_and_part_of_the_default_build() -> None:
    unit = load_lock().units["local-path-provisioner"]
    assert unit.static and not unit.optional
    assert unit.source == "github.com/rancher/local-path-provisioner"
    assert f"main.VERSION={unit.version}" in unit.rendered_ldflags()
    assert IMAGES["local-path-provisioner"] == f"docker.io/rancher/local-path-provisioner:{unit.version}"


def test_default_class_binds_on_first_consumer_and_deletes_with_the_claim() -> None:
    storage_class = one("StorageClass")
    assert storage_class["metadata"]["name"] == "local-path"
    assert storage_class["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
    assert storage_class["provisioner"] == "rancher.io/local-path"
    assert storage_class["volumeBindingMode"] == "WaitForFirstConsumer"
    assert storage_class["reclaimPolicy"] == "Delete"
    # local volumes take the pod's fsGroup; hostPath volumes would need a world-writable folder
    assert storage_class["metadata"]["annotations"]["defaultVolumeType"] == "local"


def test_every_namespaced_object_lives_in_the_privileged_storage_namespace() -> None:
    namespace = one("Namespace")
    assert namespace["metadata"]["name"] == kube_addons.LOCAL_PATH_NAMESPACE
    assert namespace["metadata"]["labels"] == {"pod-security.kubernetes.io/enforce": "privileged"}
    cluster_scoped = {"Namespace", "ClusterRole", "ClusterRoleBinding", "StorageClass"}
    for obj in OBJECTS:
        if obj["kind"] not in cluster_scoped:
            assert obj["metadata"]["namespace"] == kube_addons.LOCAL_PATH_NAMESPACE, obj["kind"]


def test_rbac_is_what_the_provisioner_calls_and_no_more() -> None:
    cluster_rules = {res: set(rule["verbs"]) for rule in one("ClusterRole")["rules"] for res in rule["resources"]}
    assert cluster_rules == {
        "persistentvolumes": {"get", "list", "watch", "create", "patch", "delete"},
        "persistentvolumeclaims": {"get", "list", "watch", "update"},
        "storageclasses": {"get", "list", "watch"},
        "nodes": {"get"},
        "events": {"create", "patch"},
    }
    # pods only in its own namespace (a Role), never secrets, configmaps, leases or RBAC
    role = one("Role")
    assert role["metadata"]["namespace"] == kube_addons.LOCAL_PATH_NAMESPACE
    assert {res: set(rule["verbs"]) for rule in role["rules"] for res in rule["resources"]} == {
        "pods": {"create", "get", "delete"},
        "pods/log": {"get"},
    }
    for binding in (one("ClusterRoleBinding"), one("RoleBinding")):
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": kube_addons.LOCAL_PATH, "namespace": kube_addons.LOCAL_PATH_NAMESPACE}
        ]


def test_provisioner_runs_restricted_on_real_nodes_from_its_mounted_config() -> None:
    deployment = one("Deployment")
    assert deployment["spec"]["replicas"] == 1 and deployment["spec"]["strategy"] == {"type": "Recreate"}
    pod = deployment["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"pdn.go.id/node-kind": "real"}
    assert pod["securityContext"]["runAsNonRoot"] is True
    [container] = pod["containers"]
    assert container["image"] == IMAGES["local-path-provisioner"] and container["imagePullPolicy"] == "Never"
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    # files, not API reads: the role grants no ConfigMap access
    assert "--config=/etc/config/config.json" in container["args"]
    assert "--helper-pod-file=/etc/config/helperPod.yaml" in container["args"]
    assert pod["volumes"] == [{"name": "config", "configMap": {"name": kube_addons.LOCAL_PATH_CONFIG}}]


def test_config_keeps_volumes_under_the_node_folder_and_runs_the_busybox_helper() -> None:
    data = one("ConfigMap")["data"]
    config = json.loads(data["config.json"])
    assert config["nodePathMap"] == [
        {"node": "DEFAULT_PATH_FOR_NON_LISTED_NODES", "paths": [kube_addons.LOCAL_PATH_DIR]}
    ]
    helper = json.loads(data["helperPod.yaml"])  # JSON, which the provisioner reads as YAML
    [container] = helper["spec"]["containers"]
    assert container["name"] == "helper-pod" and container["image"] == IMAGES["workload"] == WORKLOAD
    assert helper["spec"]["automountServiceAccountToken"] is False
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"], "add": ["DAC_OVERRIDE"]}
    [scripts] = helper["spec"]["volumes"]
    assert (
        scripts["configMap"]["name"] == kube_addons.LOCAL_PATH_CONFIG and scripts["configMap"]["defaultMode"] == 0o555
    )
    mount = container["volumeMounts"][0]["mountPath"]
    assert config["setupCommand"] == f"{mount}/setup" and config["teardownCommand"] == f"{mount}/teardown"
    for key in ("setup", "teardown"):
        assert data[key].startswith("#!/bin/busybox sh\n"), "busybox has no /bin/sh"


@pytest.mark.parametrize(
    ("folder", "accepted"),
    [
        (f"{kube_addons.LOCAL_PATH_DIR}/pvc-1234_ns_data", True),
        (kube_addons.LOCAL_PATH_DIR, False),
        (f"{kube_addons.LOCAL_PATH_DIR}/", False),
        (f"{kube_addons.LOCAL_PATH_DIR}/a/b", False),
        (f"{kube_addons.LOCAL_PATH_DIR}/../../etc", False),
        ("/etc", False),
        ("", False),
    ],
)
def test_helper_scripts_touch_only_one_folder_below_the_volume_root(folder: str, accepted: bool) -> None:
    """The guard both scripts start with, run by the host's sh with the action replaced by an echo."""
    for script in (kube_addons.SETUP_SCRIPT, kube_addons.TEARDOWN_SCRIPT):
        lines = script.splitlines()
        assert lines[-1].startswith("/bin/busybox ") and '"$VOL_DIR"' in lines[-1]
        probe = "\n".join([*lines[1:-1], "echo accepted"])
        done = subprocess.run(["sh", "-c", probe], env={"VOL_DIR": folder}, capture_output=True, text=True, check=False)
        assert (done.returncode == 0 and done.stdout.strip() == "accepted") is accepted, (folder, done)
