"""``pulumi up`` of the four site stacks against the lab, checked with the kube client and boto3.

Order matters (pytest runs a file top to bottom): up -> objects -> buckets -> no-change preview
-> secrets grep -> destroy -> nothing left.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest
from kubernetes import client, config

from pdn.s3client import s3_client
from pdn.sites import load_sites
from pdn.stacks.runner import Outcome, pulumi_command, run
from pdn.stacks.workspace import Workspace, lab_credentials, stack_sites

MODEL = load_sites()


def _api(site: str) -> client.ApiClient:
    from pdn.lab import endpoints

    return config.new_client_from_config(config_file=str(endpoints.kubeconfig_path(site)))


def _s3(site: str) -> Any:
    from pdn.lab import endpoints

    creds = lab_credentials()[site]
    return s3_client(
        endpoints.s3_endpoint(site), MODEL.site(site).object_storage.region, creds["accessKey"], creds["secretKey"]
    )


def test_up_all_four(stacks_up: list[Outcome]) -> None:
    assert [o.site for o in stacks_up] == stack_sites()
    for outcome in stacks_up:
        assert outcome.changes.get("create", 0) + outcome.changes.get("same", 0) > 50, outcome


@pytest.mark.parametrize("site", stack_sites())
def test_objects_exist_in_cluster(stacks_up: list[Outcome], site: str) -> None:
    api = _api(site)
    custom = client.CustomObjectsApi(api)
    core = client.CoreV1Api(api)
    cluster = custom.get_namespaced_custom_object(
        "cluster.x-k8s.io", "v1beta2", f"pdn-cluster-{site}", "clusters", site
    )
    assert cluster["spec"]["topology"]["version"] == MODEL.site(site).kubernetes.version
    tenants = core.list_namespace(label_selector=f"pdn.go.id/site={site},pdn.go.id/tenant")
    assert tenants.items
    for ns in tenants.items:
        assert ns.metadata.labels["pod-security.kubernetes.io/enforce"] == "restricted"
        assert core.list_namespaced_resource_quota(ns.metadata.name).items
        assert core.list_namespaced_limit_range(ns.metadata.name).items
    locations = custom.list_namespaced_custom_object("velero.io", "v1", "velero", "backupstoragelocations")
    modes = {item["metadata"]["name"]: item["spec"]["accessMode"] for item in locations["items"]}
    for partner in MODEL.site(site).partner_ids:
        assert modes[f"to-{partner}"] == "ReadWrite"
    assert all(mode == "ReadOnly" for name, mode in modes.items() if name.startswith("from-"))
    schedules = custom.list_namespaced_custom_object("velero.io", "v1", "velero", "schedules")
    assert schedules["items"]


@pytest.mark.parametrize("site", stack_sites())
def test_buckets_on_partners_locked_and_versioned(stacks_up: list[Outcome], site: str) -> None:
    for partner in MODEL.site(site).partner_ids:
        s3 = _s3(partner)
        bucket = f"pdn-backup-{site}"
        assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
        lock = s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
        assert lock["ObjectLockEnabled"] == "Enabled"
        assert lock["Rule"]["DefaultRetention"]["Days"] >= 1
        rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
        assert any("NoncurrentVersionExpiration" in rule for rule in rules)


def test_second_preview_has_no_changes(stacks_ws: Workspace, stacks_up: list[Outcome]) -> None:
    outcomes = run(stacks_ws, stack_sites(), "preview", policy=True)
    assert [o.changed for o in outcomes] == [0, 0, 0, 0], [o.changes for o in outcomes]


@pytest.mark.parametrize("site", stack_sites())
def test_secrets_never_plaintext_in_state(stacks_ws: Workspace, stacks_up: list[Outcome], site: str) -> None:
    binary = pulumi_command(stacks_ws.env).command
    export = subprocess.run(
        [binary, "stack", "export", "--stack", site],
        cwd=stacks_ws.work_dir,
        env=stacks_ws.env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    json.loads(export)
    for values in lab_credentials().values():
        assert values["secretKey"] not in export
        assert values["accessKey"] not in export


def test_destroy_leaves_nothing(stacks_ws: Workspace, stacks_up: list[Outcome]) -> None:
    run(stacks_ws, list(reversed(stack_sites())), "destroy")
    for site in stack_sites():
        core = client.CoreV1Api(_api(site))
        assert not core.list_namespace(label_selector="app.kubernetes.io/managed-by=pulumi").items
        ext = client.ApiextensionsV1Api(_api(site))
        names = {crd.metadata.name for crd in ext.list_custom_resource_definition().items}
        assert not any(n.endswith((".cluster.x-k8s.io", ".velero.io")) for n in names)
        for partner in MODEL.site(site).partner_ids:
            buckets = {b["Name"] for b in _s3(partner).list_buckets().get("Buckets", [])}
            assert f"pdn-backup-{site}" not in buckets
