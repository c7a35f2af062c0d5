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
from datetime import datetime
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
PARTNER = "batam"  # the drill's partner: it gets a real node too, to run the restored apps
NAMESPACE = "pdnup"  # node containers of this test only
PORT_BASE = "24600"


UP = [sys.executable, "-c", "from pdn.cli import main; main()", "up", "--site", SITE, "--nodes", "1", "--apps", "100"]


def _env(out: Path) -> dict[str, str]:
    return {**os.environ, "PDN_OUT": str(out), "PDN_NODES_NAMESPACE": NAMESPACE, "PDN_NODES_PORT_BASE": PORT_BASE}


@pytest.fixture(scope="module")
def main_job(lab: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, Any]]]:
    from pdn.converge import records_file

    out = tmp_path_factory.mktemp("up")
    env = _env(out)
    records_file().unlink(missing_ok=True)  # a lab kept from an earlier session may hold pdn up's records
    try:
        done = subprocess.run(UP, env=env, capture_output=True, text=True, timeout=1800, check=False)
        assert done.returncode == 0, f"pdn up failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
        summary = json.loads((out / "up" / "summary.json").read_text(encoding="utf-8"))
        yield out / "up", summary
    finally:
        for site in (SITE, PARTNER):
            stop = f"from pdn.lab.nodes_bridge import stop_node_containers; stop_node_containers({site!r})"
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
    listed = api.list_namespace(label_selector=f"pdn.go.id/tenant,pdn.go.id/site={SITE}").items
    deployed = {item.metadata.name: item.metadata.labels for item in listed if item.metadata.deletion_timestamp is None}
    # only the drill's own namespace, cleaned up at its end, may still be on its way out
    leaving = [item.metadata for item in listed if item.metadata.deletion_timestamp is not None]
    assert all(meta.labels["pdn.go.id/tenant"] == "drill" for meta in leaving), [meta.name for meta in leaving]
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


def _rendered_wave_one(out: Path) -> list[str]:
    with (out / "migrate" / "plan.csv").open(encoding="utf-8") as handle:
        rows = [row for row in csv.DictReader(handle) if row["wave"] == "1" and row["site"] == SITE]
    return [row["app_id"] for row in rows if (out / "migrate" / "manifests" / row["app_id"]).is_dir()]


def test_wave_one_runs_on_the_real_node_and_reads_its_own_data(main_job: tuple[Path, dict[str, Any]], lab: Any) -> None:
    """Every rendered wave-1 app's pods run on the real node under ``restricted``; the smoke check
    (from inside the app's namespace, through its Service) read every object with the source's SHA-256."""
    out, summary = main_job
    apps = _rendered_wave_one(out)
    assert len(apps) >= 2, "the tiny inventory should render several wave-1 apps here"
    site = _site(summary)
    assert (site["apps_live"], site["apps_ready"], site["apps_smoke_verified"]) == (len(apps),) * 3, site
    assert site["tenants_isolated"] is True, site
    api = client.CoreV1Api(config.new_client_from_config(config_file=str(lab.kubeconfig_path(SITE))))
    real_nodes = {node.metadata.name for node in api.list_node(label_selector="pdn.go.id/node-kind=real").items}
    assert real_nodes
    for app in apps:
        evidence = json.loads((out / "migrate" / "smoke" / f"{app}.json").read_text(encoding="utf-8"))
        assert evidence["passed"] and evidence["config_ok"], evidence
        assert evidence["sha256_matching"] == evidence["sha256_checked"] == evidence["expected_objects"] >= 2
        namespace = evidence["namespace"]
        labels = api.read_namespace(namespace).metadata.labels
        assert labels["pod-security.kubernetes.io/enforce"] == "restricted", labels
        pods = api.list_namespaced_pod(namespace, label_selector=f"app.kubernetes.io/name={evidence['service']}").items
        assert pods and all(pod.spec.node_name in real_nodes for pod in pods), [p.spec.node_name for p in pods]
        assert all(pod.status.phase == "Running" for pod in pods)
        assert all(all(c.ready for c in pod.status.container_statuses) for pod in pods)
    runbook = (out / "migrate" / "runbooks" / "wave-001.md").read_text(encoding="utf-8")
    assert "Smoke check run" in runbook and f"{apps[0]}: {SITE}:" in runbook


def test_large_apps_copied_as_indexed_jobs_on_the_site(main_job: tuple[Path, dict[str, Any]], lab: Any) -> None:
    """Apps of at least --job-copy-gb (20 GB in the inventory) moved as Indexed Jobs on the site's
    cluster, every shard succeeded and every object was verified; the rest moved in one process.
    (A pod killed mid-copy and the Job finishing anyway: tests/kube/test_copy_job.py.)"""
    from pdn.naming import copy_job_name

    out, summary = main_job
    live = json.loads((out / "migrate" / "golive" / f"{SITE}.json").read_text(encoding="utf-8"))
    jobs = live["copy"]["indexed_job"]
    assert jobs, "the tiny inventory has wave-1 apps of 20 GB or more on this site"
    assert _site(summary)["copy_ran"].startswith(f"{len(jobs)} as Indexed Job")
    batch = client.BatchV1Api(config.new_client_from_config(config_file=str(lab.kubeconfig_path(SITE))))
    for app in jobs:
        job = batch.read_namespaced_job(copy_job_name(app), "pdn-migrate")
        assert job.spec.completion_mode == "Indexed" and job.spec.completions >= 2, job.spec
        assert job.status.succeeded == job.spec.completions, job.status
        ledger = out / "migrate" / "copy" / f"{app}.job.sqlite"
        from pdn.upsummary import fully_verified

        assert fully_verified(ledger), f"{ledger}: not every object verified"


def test_an_app_credential_reads_only_its_own_bucket(main_job: tuple[Path, dict[str, Any]], lab: Any) -> None:
    """The Secret an app gets holds temporary credentials for its own bucket, read-only."""
    import base64

    out, _ = main_job
    first, second, *_ = _rendered_wave_one(out)
    evidence = json.loads((out / "migrate" / "smoke" / f"{first}.json").read_text(encoding="utf-8"))
    api = client.CoreV1Api(config.new_client_from_config(config_file=str(lab.kubeconfig_path(SITE))))
    data = api.read_namespaced_secret(f"{evidence['service']}-s3", evidence["namespace"]).data
    values = {key: base64.b64decode(value).decode() for key, value in data.items()}
    s3 = boto3.client(
        "s3",
        endpoint_url=lab.s3_endpoint(SITE),
        aws_access_key_id=values["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=values["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=values["AWS_SESSION_TOKEN"],
        region_name=lab.s3_region(SITE),
        config=Config(s3={"addressing_style": "path"}),
    )
    assert s3.list_objects_v2(Bucket=bucket_name(first))["KeyCount"] >= 2
    from botocore.exceptions import ClientError

    for attempt in (
        lambda: s3.list_objects_v2(Bucket=bucket_name(second)),
        lambda: s3.put_object(Bucket=bucket_name(first), Key="written-by-the-app", Body=b"x"),
    ):
        with pytest.raises(ClientError) as refused:
            attempt()
        assert refused.value.response["Error"]["Code"] == "AccessDenied"


def test_drill_ran_and_backup_is_fresh(main_job: tuple[Path, dict[str, Any]]) -> None:
    out, summary = main_job
    site = _site(summary)
    assert site["backups_completed"] and site["backups_completed"] >= 1
    assert site["last_backup_age_seconds"] is not None
    assert list((out / "drill").rglob("*.html")), "no drill report"


def _apps_came_back(report: dict[str, Any], apps: int, files: int) -> None:
    """Every drilled app answered on the partner as on the source, with every file of its volume."""
    assert report["passed"], report.get("app_problems") or report.get("target_failures") or report
    assert len(report["apps"]) == apps and report["apps_equal"] == apps
    for name, answers in report["apps"].items():
        source, restored = answers["source"], answers["restored"]
        assert source["readyz"]["status"] == 200 and restored["readyz"]["status"] == 200, name
        # the seeded files plus the seed's two bookkeeping files, every one equal by SHA-256
        assert source["volume"]["files"] == files + 2 and restored["volume"] == source["volume"], name
        assert restored["entries"] == source["entries"], name
    # RTO runs to the last app answering: longer than the Velero restore alone
    restore = next(phase for phase in report["phases"] if phase["name"] == "restore")
    seconds = (datetime.fromisoformat(restore["finished"]) - datetime.fromisoformat(restore["started"])).total_seconds()
    assert report["rto_seconds"] >= seconds > 0


def test_drill_brings_an_app_back_running_with_its_volume(main_job: tuple[Path, dict[str, Any]]) -> None:
    out, _summary = main_job
    report = json.loads((out / "drill" / "drill.json").read_text(encoding="utf-8"))
    _apps_came_back(report, apps=1, files=300)
    # The backup's archive and the Kopia data of the volume are both locked: delete and overwrite fail.
    kopia = {check: outcome for check, outcome in report["immutability"].items() if "Kopia" in check}
    assert len(kopia) == 2 and all(o.startswith(("refused", "intact")) for o in kopia.values()), kopia
    assert report["immutability"]["delete the locked version"].startswith("refused")


def test_a_second_run_with_nothing_changed_redoes_nothing(main_job: tuple[Path, dict[str, Any]]) -> None:
    """The same command again on the same lab: every step after the lab's says from its records that
    nothing changed, and the summary, read back from the lab, tells the same outcome."""
    out, first = main_job
    done = subprocess.run(UP, env=_env(out.parent), capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, f"second pdn up failed:\n{done.stdout[-4000:]}\n{done.stderr[-3000:]}"
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    results = {step["step"]: step["result"] for step in summary["steps"]}
    assert results == {
        "toolchain": "done", "lab": "done", "harden": "unchanged", "harden-report": "unchanged",
        "plan": "unchanged", "stacks": "unchanged", "migrate": "unchanged", "drill": "unchanged",
    }, done.stdout[-3000:]  # fmt: skip
    assert done.stdout.count("unchanged since") >= 6
    before, now = _site(first), _site(summary)
    for field in ("nodes_running", "tenants", "apps_wave_one", "apps_migrated", "apps_live", "apps_ready",
                  "apps_smoke_verified", "tenants_isolated"):  # fmt: skip
        assert now[field] == before[field], (field, before[field], now[field])
    assert now["nodes"][0]["ready"] is True and summary["drill"]["passed"] is True


def test_site_loss_recovers_the_vital_tenants_and_loses_nothing(main_job: tuple[Path, dict[str, Any]]) -> None:
    """Last in this module: it stops the site entirely and brings it back."""
    out, _summary = main_job
    folder = out / "site-loss"
    env = _env(out.parent)
    command = [sys.executable, "-c", "from pdn.cli import main; main()", "backup", "drill", "--site-loss", SITE,
               "--to", PARTNER, "--apps", "1", "--report-dir", str(folder)]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1500, check=False)
    assert done.returncode == 0, f"site-loss drill failed:\n{done.stdout[-4000:]}\n{done.stderr[-3000:]}"
    report = json.loads((folder / "drill.json").read_text(encoding="utf-8"))
    assert report["site_loss"] is True
    vital = sorted(ns for ns in report["namespaces"])
    assert vital and all(ns.startswith("tenant-") for ns in vital)
    _apps_came_back(report, apps=1, files=300)
    assert report["objects_compared"] == report["objects_equal"] and not report["missing"]
    # nothing lost on either side: the site after its return, the partner's own tenants
    for side in ("site_returned", "partner_unchanged"):
        kept = report[side]
        assert kept["compared"] > 0 and kept["compared"] == kept["equal"], (side, kept)
        assert not kept["missing"] and not kept["differences"] and not kept["unexpected"], (side, kept)
    # the RPO is the vital tier's: the newest backup of a vital tenant against its 75-minute target
    assert report["rpo"] and all(entry["tier"] == "vital" for entry in report["rpo"])
    assert not report["target_failures"]
