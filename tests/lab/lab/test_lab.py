"""The lab itself: API servers serve objects, kwok runs pods, MinIO keeps locked versions,
``up`` converges, ``kill -9`` loses nothing, and ``down`` leaves nothing behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from kubernetes import client, config

from pdn.lab import layout, runtime
from pdn.lab.components import components
from pdn.lab.fake_nodes import FAKE_TOLERATION, REGION, ZONE
from pdn.lab.processes import read_pid, running_pid
from pdn.sites import load_sites

MODEL = load_sites()
SITES = layout.site_ids()


def kube(lab: Any, site: str) -> client.ApiClient:
    return config.new_client_from_config(config_file=str(lab.kubeconfig_path(site)))


def s3(lab: Any, site: str) -> Any:
    access, secret = lab.s3_credentials(site)
    return boto3.client(
        "s3",
        endpoint_url=lab.s3_endpoint(site),
        region_name=lab.s3_region(site),
        aws_access_key_id=access,
        aws_secret_access_key=secret,
        config=Config(
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            s3={"addressing_style": "path"},
            retries={"max_attempts": 2},
        ),
    )


def wait_for(check: Any, timeout: float = 30.0, every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(every)


@pytest.mark.parametrize("site", SITES)
def test_every_component_is_healthy(lab: Any, site: str) -> None:
    rows = [row for row in runtime.status([site])]
    assert {row.name for row in rows} == {
        "etcd",
        "minio",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kwok",
    }
    assert all(row.state == "healthy" for row in rows), [(row.name, row.state) for row in rows]


@pytest.mark.parametrize("site", SITES)
def test_nodes_are_labelled_from_the_site_model(lab: Any, site: str) -> None:
    nodes = client.CoreV1Api(kube(lab, site)).list_node().items
    model = MODEL.site(site)
    assert len(nodes) == model.kubernetes.control_plane.replicas + sum(
        pool.replicas for pool in model.kubernetes.worker_pools
    )
    assert {node.metadata.labels[REGION] for node in nodes} == {site}
    assert {node.metadata.labels[ZONE] for node in nodes} == {domain.zone for domain in model.failure_domains}
    for node in nodes:
        ready = [c for c in node.status.conditions if c.type == "Ready"]
        assert ready and ready[0].status == "True", node.metadata.name


@pytest.mark.parametrize("site", SITES)
def test_namespace_and_deployment_become_ready(lab: Any, site: str) -> None:
    api = kube(lab, site)
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    namespace = f"lab-test-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": namespace}})
    try:
        deployment = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        "containers": [{"name": "web", "image": "registry.invalid/web:1"}],
                        "tolerations": [FAKE_TOLERATION],  # a scale test on kwok's fake nodes
                        "topologySpreadConstraints": [
                            {
                                "maxSkew": 1,
                                "topologyKey": ZONE,
                                "whenUnsatisfiable": "DoNotSchedule",
                                "labelSelector": {"matchLabels": {"app": "web"}},
                            }
                        ],
                    },
                },
            },
        }
        apps.create_namespaced_deployment(namespace, deployment)
        ready = wait_for(
            lambda: (apps.read_namespaced_deployment("web", namespace).status.ready_replicas or 0) == 3, 60
        )
        assert ready, apps.read_namespaced_deployment("web", namespace).status
        pods = core.list_namespaced_pod(namespace, label_selector="app=web").items
        assert all(pod.status.phase == "Running" and pod.spec.node_name for pod in pods)
        zones = {core.read_node(pod.spec.node_name).metadata.labels[ZONE] for pod in pods}
        assert len(zones) == min(3, len(MODEL.site(site).failure_domains))  # spread by zone label
    finally:
        core.delete_namespace(namespace)


@pytest.mark.parametrize("site", SITES)
def test_minio_bucket_with_versioning_and_object_lock(lab: Any, site: str) -> None:
    store = s3(lab, site)
    bucket = f"lab-test-{uuid.uuid4().hex[:8]}"
    store.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    store.put_object_lock_configuration(
        Bucket=bucket,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}},
        },
    )
    assert store.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    first = store.put_object(Bucket=bucket, Key="backup.tar", Body=b"one")["VersionId"]
    second = store.put_object(Bucket=bucket, Key="backup.tar", Body=b"two")["VersionId"]
    assert first != second
    versions = store.list_object_versions(Bucket=bucket, Prefix="backup.tar")["Versions"]
    assert {version["VersionId"] for version in versions} == {first, second}
    retention = store.get_object_retention(Bucket=bucket, Key="backup.tar", VersionId=first)["Retention"]
    assert retention["Mode"] == "GOVERNANCE"
    with pytest.raises(ClientError) as caught:
        store.delete_object(Bucket=bucket, Key="backup.tar", VersionId=first)
    # AWS answers AccessDenied; MinIO answers InvalidRequest "Object is WORM protected"
    error = caught.value.response["Error"]
    assert error["Code"] == "AccessDenied" or (error["Code"] == "InvalidRequest" and "WORM" in error["Message"])
    assert store.get_object(Bucket=bucket, Key="backup.tar", VersionId=first)["Body"].read() == b"one"


def test_second_up_changes_nothing(lab: Any) -> None:
    results = runtime.up(lab.sites)
    assert [result.started for result in results] == [[] for _ in lab.sites]
    assert all(len(result.kept) == 6 for result in results)


def test_kill_9_is_seen_and_repaired_without_data_loss(lab: Any) -> None:
    site = lab.sites[-1]
    api = client.CoreV1Api(kube(lab, site))
    name = f"survivor-{uuid.uuid4().hex[:6]}"
    api.create_namespaced_config_map("default", {"metadata": {"name": name}, "data": {"k": "v"}})
    store = s3(lab, site)
    bucket = f"lab-kill-{uuid.uuid4().hex[:8]}"
    store.create_bucket(Bucket=bucket)
    store.put_object(Bucket=bucket, Key="kept", Body=b"data")

    parts = components(MODEL.site(site))
    for victim in ("etcd", "kube-apiserver", "minio", "kwok"):
        recorded = read_pid(parts[victim].spec)
        assert recorded is not None
        os.kill(recorded[0], signal.SIGKILL)
    assert wait_for(lambda: all(running_pid(parts[v].spec) is None for v in ("etcd", "kube-apiserver", "minio")))
    states = {row.name: row.state for row in runtime.status([site])}
    assert states["etcd"] == states["minio"] == states["kube-apiserver"] == "dead (stale pid)"

    result = runtime.up([site])[0]
    assert {"etcd", "kube-apiserver", "minio", "kwok"} <= set(result.started)
    assert all(row.state == "healthy" for row in runtime.status([site]))
    api = client.CoreV1Api(kube(lab, site))
    assert api.read_namespaced_config_map(name, "default").data == {"k": "v"}
    assert s3(lab, site).get_object(Bucket=bucket, Key="kept")["Body"].read() == b"data"
    api.delete_namespaced_config_map(name, "default")


def _pdn(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from pdn.cli import main; main()", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200", **env},
        timeout=300,
        check=False,
    )


def test_env_prints_exports_for_a_site(lab: Any) -> None:
    site = lab.sites[0]
    done = _pdn("lab", "env", site, env={})
    assert done.returncode == 0, done.stderr
    exports = dict(line.removeprefix("export ").split("=", 1) for line in done.stdout.splitlines())
    assert exports["KUBECONFIG"] == str(lab.kubeconfig_path(site))
    assert exports["AWS_ENDPOINT_URL_S3"] == lab.s3_endpoint(site)
    assert exports["PULUMI_BACKEND_URL"].startswith("file://")


def test_a_private_lab_comes_up_and_down_leaves_nothing(lab: Any, tmp_path: Path) -> None:
    """A second lab in its own dir and port range: up, status, port clash, down, down --purge."""
    env = {"PDN_LAB_DIR": str(tmp_path / "lab"), "PDN_LAB_PORT_BASE": "28100"}
    site = "labuan-bajo"
    up = _pdn("lab", "up", "--site", site, env=env)
    assert up.returncode == 0, up.stdout + up.stderr
    status = _pdn("lab", "status", "--site", site, env=env)
    assert status.returncode == 0 and status.stdout.count("healthy") == 6, status.stdout
    run_dir = tmp_path / "lab" / site / "run"
    pids = [int(path.read_text().split('"pid": ')[1].split(",")[0]) for path in run_dir.glob("*.pid")]
    assert len(pids) == 6

    clash = _pdn("lab", "up", "--site", site, env={**env, "PDN_LAB_DIR": str(tmp_path / "other")})
    assert clash.returncode != 0
    assert "in use by another process" in clash.stderr and "Traceback" not in clash.stderr
    assert len([line for line in clash.stderr.splitlines() if line.startswith("error:")]) == 1

    down = _pdn("lab", "down", "--site", site, env=env)
    assert down.returncode == 0, down.stderr
    assert all(not Path(f"/proc/{pid}").exists() or _zombie(pid) for pid in pids)
    assert not list(run_dir.glob("*.pid"))
    assert (tmp_path / "lab" / site / "etcd").is_dir()  # state kept without --purge
    purge = _pdn("lab", "down", "--purge", env=env)
    assert purge.returncode == 0, purge.stderr
    assert not (tmp_path / "lab").exists()


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
