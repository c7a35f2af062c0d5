"""Velero's node agent as data: least-privilege RBAC, the DaemonSet Velero recognises, and the
zero-replica anchor Deployment whose template Kopia's maintenance Jobs copy."""

from __future__ import annotations

from typing import Any

from pdn.backup import nodeagent, velero
from pdn.nodes.podimages import VELERO_IMAGE

READ_VERBS = {"get", "list", "watch"}


def _by_kind(kind: str) -> list[dict[str, Any]]:
    return [obj for obj in nodeagent.rbac() if obj["kind"] == kind]


def _one(kind: str) -> dict[str, Any]:
    found = _by_kind(kind)
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


def test_no_binding_grants_cluster_admin_or_any_foreign_role() -> None:
    own_roles = {("ClusterRole", obj["metadata"]["name"]) for obj in _by_kind("ClusterRole")}
    own_roles |= {("Role", obj["metadata"]["name"]) for obj in _by_kind("Role")}
    bindings = _by_kind("ClusterRoleBinding") + _by_kind("RoleBinding")
    assert len(bindings) == 2
    for binding in bindings:
        ref = binding["roleRef"]
        assert ref["name"] not in ("cluster-admin", "admin", "edit"), binding["metadata"]["name"]
        assert (ref["kind"], ref["name"]) in own_roles, "every binding points at a role defined here"
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": nodeagent.ACCOUNT, "namespace": "velero"}]


def test_cluster_role_only_reads() -> None:
    role = _one("ClusterRole")
    assert role["rules"]
    for rule in role["rules"]:
        assert set(rule["verbs"]) <= READ_VERBS, rule
        assert "*" not in rule["verbs"]
    core = next(rule for rule in role["rules"] if rule["apiGroups"] == [""])
    assert {"pods", "persistentvolumeclaims", "persistentvolumes", "nodes"} <= set(core["resources"])


def test_write_verbs_only_in_the_velero_namespace() -> None:
    writers = [
        obj
        for obj in nodeagent.rbac()
        if obj["kind"] in ("Role", "ClusterRole") and any(set(rule["verbs"]) - READ_VERBS for rule in obj["rules"])
    ]
    assert [obj["kind"] for obj in writers] == ["Role"]
    role = writers[0]
    assert role["metadata"]["namespace"] == "velero"
    assert _one("RoleBinding")["metadata"]["namespace"] == "velero"
    writes = {res for rule in role["rules"] for res in rule["resources"] if "create" in rule["verbs"]}
    assert {"pods", "leases"} <= writes  # the data-mover pods, the agent's lease
    assert all("*" not in rule["verbs"] for rule in role["rules"])
    assert _one("ServiceAccount")["metadata"] == {
        "name": nodeagent.ACCOUNT,
        "namespace": "velero",
        "labels": nodeagent.LABELS,
    }


def _pod() -> dict[str, Any]:
    spec: dict[str, Any] = nodeagent.daemonset()["spec"]["template"]["spec"]
    return spec


def test_daemonset_is_found_by_velero() -> None:
    ds = nodeagent.daemonset()
    assert ds["kind"] == "DaemonSet" and ds["apiVersion"] == "apps/v1"
    assert ds["metadata"]["name"] == "node-agent" and ds["metadata"]["namespace"] == "velero"
    labels = ds["spec"]["template"]["metadata"]["labels"]
    assert labels["name"] == "node-agent" and labels["role"] == "node-agent"
    selector = ds["spec"]["selector"]["matchLabels"]
    assert all(labels.get(key) == value for key, value in selector.items()), "the selector matches the pods"
    assert _pod()["serviceAccountName"] == nodeagent.ACCOUNT
    assert nodeagent.manifests() == [*nodeagent.rbac(), nodeagent.config(), nodeagent.restore_helper_config(), ds]


def test_restored_pods_wait_for_their_data_at_a_small_cost() -> None:
    """Velero's restore-wait init container asks 100m CPU by default: twenty restored apps did not
    fit a lab node. The plugin ConfigMap that lowers it is found by Velero's two labels."""
    cm = nodeagent.restore_helper_config()
    labels = cm["metadata"]["labels"]
    assert labels["velero.io/plugin-config"] == "" and labels["velero.io/pod-volume-restore"] == "RestoreItemAction"
    assert cm["metadata"]["namespace"] == "velero"
    assert cm["data"]["cpuRequest"].endswith("m") and int(cm["data"]["cpuRequest"][:-1]) <= 10


def test_agent_moves_several_volumes_at_once_per_node() -> None:
    """Velero's default of one pod volume at a time per node let twenty apps' restore run past the
    drill's timeout; the agent reads its ConfigMap (one JSON document) by the name in its args."""
    import json

    cm = nodeagent.config()
    assert cm["kind"] == "ConfigMap" and cm["metadata"]["namespace"] == "velero"
    (document,) = cm["data"].values()
    assert json.loads(document) == {"loadConcurrency": {"globalConfig": nodeagent.LOAD_CONCURRENCY}}
    assert nodeagent.LOAD_CONCURRENCY > 1
    (container,) = _pod()["containers"]
    assert f"--node-agent-configmap={cm['metadata']['name']}" in container["args"]


def test_agent_runs_the_local_image_never_pulled_with_loopback_metrics() -> None:
    (container,) = _pod()["containers"]
    assert container["image"] == VELERO_IMAGE == "localhost/pdn/velero:lab"
    assert container["imagePullPolicy"] == "Never"
    assert container["args"][:2] == ["node-agent", "server"]
    metrics = [arg for arg in container["args"] if arg.startswith("--metrics-address")]
    assert metrics == ["--metrics-address=127.0.0.1:8085"]
    assert "ports" not in container and "hostNetwork" not in _pod()
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"].get("privileged") is not True
    assert "add" not in container["securityContext"].get("capabilities", {})


def test_host_paths_are_only_the_kubelet_pod_and_plugin_folders_read_host_to_container() -> None:
    pod = _pod()
    host = {volume["name"]: volume["hostPath"]["path"] for volume in pod["volumes"] if "hostPath" in volume}
    assert sorted(host.values()) == ["/var/lib/kubelet/plugins", "/var/lib/kubelet/pods"]
    (container,) = pod["containers"]
    mounts = {mount["name"]: mount for mount in container["volumeMounts"]}
    for name in host:
        assert mounts[name]["mountPropagation"] == "HostToContainer", name
    assert mounts["host-pods"]["mountPath"] == "/host_pods"  # where Velero looks for pod volumes
    others = [volume for volume in pod["volumes"] if "hostPath" not in volume]
    assert all(set(volume) == {"name", "emptyDir"} for volume in others)
    paths = {mounts[volume["name"]]["mountPath"] for volume in others}
    assert paths == {"/tmp", "/scratch"}
    assert all(
        mount.get("mountPropagation", "None") == "None" for mount in mounts.values() if mount["name"] not in host
    )


def test_agent_environment_points_kopia_at_the_writable_folders() -> None:
    env = {item["name"]: item for item in _pod()["containers"][0]["env"]}
    assert env["NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
    assert env["HOME"]["value"] == "/scratch" and env["TMPDIR"]["value"] == "/tmp"
    assert env["VELERO_SCRATCH_DIR"]["value"] == "/scratch"


def test_anchor_deployment_is_a_zero_replica_non_root_template_for_maintenance_jobs() -> None:
    anchor = velero.anchor_deployment()
    assert anchor["kind"] == "Deployment" and anchor["metadata"]["name"] == "velero"
    assert anchor["metadata"]["namespace"] == "velero"
    assert anchor["spec"]["replicas"] == 0
    pod = anchor["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == nodeagent.ACCOUNT
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"].get("runAsUser", 0) != 0
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    (container,) = pod["containers"]
    assert container["image"] == VELERO_IMAGE == velero.IMAGE
    assert container["imagePullPolicy"] == "Never"
    context = container["securityContext"]
    assert context["allowPrivilegeEscalation"] is False and context["capabilities"]["drop"] == ["ALL"]
    assert context["readOnlyRootFilesystem"] is True
    assert all("valueFrom" not in item for item in container["env"]), "Jobs copy the env: no field references"
    assert {item["name"]: item["value"] for item in container["env"]}["HOME"] == "/scratch"
    mounted = {mount["mountPath"] for mount in container["volumeMounts"]}
    assert mounted == {"/tmp", "/scratch"}
    assert {volume["name"] for volume in pod["volumes"]} == {mount["name"] for mount in container["volumeMounts"]}
    assert not any("hostPath" in volume for volume in pod["volumes"])
    assert anchor["spec"]["selector"]["matchLabels"].items() <= anchor["spec"]["template"]["metadata"]["labels"].items()
