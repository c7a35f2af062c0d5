"""A reduced main job, end to end: ``pdn up`` for one site, one real node and a tiny inventory.

It runs the very command the README gives (as a child process, nothing typed in between) on the
session's lab, with its own node containers and output folder, then reads the results back from
the lab itself rather than trusting the summary alone.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.config import Config
from kubernetes import client, config

from pdn import naming, paths
from pdn.migrate.render import bucket_name

SITE = "cikarang"  # wave 1 of the tiny inventory places a dozen apps here
NAMESPACE = "pdnup"  # node containers of this test only
PORT_BASE = "24600"


@pytest.fixture(scope="module")
def main_job(lab: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, Any]]]:
    out = tmp_path_factory.mktemp("up")
    env = {**os.environ, "PDN_OUT": str(out), "PDN_NODES_NAMESPACE": NAMESPACE, "PDN_NODES_PORT_BASE": PORT_BASE}
    command = [
        sys.executable,
        "-c",
        "from pdn.cli import main; main()",
        "up",
        "--site",
        SITE,
        "--nodes",
        "1",
        "--apps",
        "100",
    ]
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800, check=False)
        assert done.returncode == 0, f"pdn up failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
        summary = json.loads((out / "up" / "summary.json").read_text(encoding="utf-8"))
        yield out / "up", summary
    finally:
        stop = f"from pdn.lab.nodes_bridge import stop_node_containers; stop_node_containers({SITE!r})"
        subprocess.run([sys.executable, "-c", stop], env=env, check=False, timeout=300)


def _site(summary: dict[str, Any]) -> dict[str, Any]:
    [site] = [entry for entry in summary["sites"] if entry["site"] == SITE]
    return site


def test_every_step_ran(main_job: tuple[Path, dict[str, Any]]) -> None:
    _, summary = main_job
    results = {step["step"]: step["result"] for step in summary["steps"]}
    assert results == dict.fromkeys(
        ("toolchain", "lab", "harden", "harden-report", "plan", "stacks", "migrate", "drill"), "done"
    )


def test_node_hardened_and_scored(main_job: tuple[Path, dict[str, Any]]) -> None:
    out, summary = main_job
    site = _site(summary)
    assert site["nodes_running"] == 1
    [node] = site["nodes"]
    assert node["lynis_index"] is not None and node["lynis_index"] >= 80, node
    assert (out / "harden" / f"{node['node']}.html").is_file()


def test_node_is_a_ready_kubelet_that_passes_kube_bench(main_job: tuple[Path, dict[str, Any]]) -> None:
    """``pdn up`` runs on real nodes: the summary shows the kubelet version and kube-bench's verdict."""
    from pdn.sites import load_sites

    out, summary = main_job
    [node] = _site(summary)["nodes"]
    assert node["kubelet"] == load_sites().site(SITE).kubernetes.version, node
    assert node["ready"] is True, node
    assert node["kube_bench_ok"] is True and " 0 not passed" in node["kube_bench"], node
    report = json.loads((out / "harden" / f"{node['node']}.json").read_text(encoding="utf-8"))
    assert len(report["kube_bench"]["passed"]) >= 15, report["kube_bench"]


def test_tenants_deployed_by_the_stack(main_job: tuple[Path, dict[str, Any]], lab: Any) -> None:
    """Wave 1's own tenants (what the plan step wrote for this site) are namespaces of the stack."""
    out, summary = main_job
    wave_one = yaml.safe_load((out / "migrate" / "tenants.yaml").read_text(encoding="utf-8"))[SITE]
    assert wave_one, "the plan step onboards no tenant for the site"
    api = client.CoreV1Api(config.new_client_from_config(config_file=str(lab.kubeconfig_path(SITE))))
    deployed = {
        item.metadata.name: item.metadata.labels
        for item in api.list_namespace(label_selector=f"pdn.go.id/tenant,pdn.go.id/site={SITE}").items
    }
    stack = yaml.safe_load((paths.repo_root() / "stacks" / f"Pulumi.{SITE}.yaml").read_text(encoding="utf-8"))
    own = {naming.tenant_namespace(entry["name"]): entry for entry in stack["config"]["pdn:tenants"]}
    for tenant in wave_one:
        namespace = naming.tenant_namespace(tenant["name"])
        assert namespace in deployed, f"{tenant['name']}: no namespace {namespace} on {SITE}"
        labels, expected = deployed[namespace], own.get(namespace, tenant)  # the stack's own entry wins
        assert labels["pdn.go.id/tier"] == expected["tier"], tenant
        assert labels["pdn.go.id/classification"] == expected["classification"], tenant
        assert labels["app.kubernetes.io/managed-by"] == "pulumi"
        assert api.read_namespace(namespace).status.phase == "Active"
    assert _site(summary)["tenants"] == len(deployed)


def test_first_wave_applied_and_copied(main_job: tuple[Path, dict[str, Any]], lab: Any) -> None:
    out, summary = main_job
    site = _site(summary)
    assert site["apps_wave_one"] >= 1
    assert site["apps_migrated"] == site["apps_wave_one"]
    with (out / "migrate" / "plan.csv").open(encoding="utf-8") as handle:
        app = next(row["app_id"] for row in csv.DictReader(handle) if row["wave"] == "1" and row["site"] == SITE)
    namespaces = {
        document["metadata"]["namespace"]
        for path in (out / "migrate" / "manifests" / app).rglob("*.yaml")
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8"))
        if document and document.get("metadata", {}).get("namespace")
    }
    api = client.CoreV1Api(config.new_client_from_config(config_file=str(lab.kubeconfig_path(SITE))))
    assert namespaces and all(api.read_namespace(name) for name in namespaces)
    access, secret = lab.s3_credentials(SITE)
    s3 = boto3.client(
        "s3",
        endpoint_url=lab.s3_endpoint(SITE),
        aws_access_key_id=access,
        aws_secret_access_key=secret,
        region_name=lab.s3_region(SITE),
        config=Config(s3={"addressing_style": "path"}),
    )
    assert s3.list_objects_v2(Bucket=bucket_name(app)).get("KeyCount", 0) >= 2


def test_drill_ran_and_backup_is_fresh(main_job: tuple[Path, dict[str, Any]]) -> None:
    out, summary = main_job
    site = _site(summary)
    assert site["backups_completed"] and site["backups_completed"] >= 1
    assert site["last_backup_age_seconds"] is not None
    assert list((out / "drill").rglob("*.html")), "no drill report"
