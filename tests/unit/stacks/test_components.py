"""Each component registers what it should for each site (Pulumi mocks, real stack config)."""

from __future__ import annotations

import pytest
from harness import Registered, of_kind, run_program, stack_config

from pdn.sites import load_sites

MODEL = load_sites()


def _by_name(resources: list[Registered], kind: str) -> dict[str, Registered]:
    return {r.meta["name"]: r for r in of_kind(resources, kind)}


def test_one_provider_with_cluster_identifier(resources: list[Registered], site_id: str) -> None:
    providers = [r for r in resources if r.type == "pulumi:providers:kubernetes"]
    assert len(providers) == 1
    assert providers[0].inputs["clusterIdentifier"] == f"pdn-{site_id}"
    objects = [r for r in resources if r.custom and r.type.startswith("kubernetes:")]
    assert len(objects) > 40
    unlabelled = [f"{r.kind}/{r.name}" for r in objects if r.meta.get("labels", {}).get("pdn.go.id/site") != site_id]
    assert unlabelled == []  # every object the stack makes says which site it belongs to


def test_cluster_topology_follows_site_model(resources: list[Registered], site_id: str) -> None:
    site = MODEL.site(site_id)
    clusters = of_kind(resources, "Cluster")
    assert len(clusters) == 1
    topology = clusters[0].inputs["spec"]["topology"]
    assert topology["version"] == site.kubernetes.version
    assert topology["controlPlane"]["replicas"] == site.kubernetes.control_plane.replicas
    variables = {v["name"]: v["value"] for v in topology["variables"]}
    assert variables["region"] == site_id
    assert [d["name"] for d in variables["failureDomains"]] == [d.zone for d in site.failure_domains]
    deployments = topology["workers"]["machineDeployments"]
    assert [d["name"] for d in deployments] == [p.name for p in site.kubernetes.worker_pools]
    for deployment, pool in zip(deployments, site.kubernetes.worker_pools, strict=True):
        zone = site.failure_domain(pool.failure_domain).zone
        assert deployment["failureDomain"] == zone
        assert deployment["replicas"] == pool.replicas
        labels = deployment["variables"]["overrides"][0]["value"].split(",")
        assert f"topology.kubernetes.io/zone={zone}" in labels
        assert f"topology.kubernetes.io/region={site_id}" in labels
        for key, value in pool.labels.items():
            assert f"{key}={value}" in labels


def test_cluster_class_references_created_templates(resources: list[Registered], site_id: str) -> None:
    (cluster_class,) = of_kind(resources, "ClusterClass")
    spec = cluster_class.inputs["spec"]
    assert spec["kubernetesVersions"] == [MODEL.site(site_id).kubernetes.version]
    cp_template = spec["controlPlane"]["templateRef"]["name"]
    worker_template = spec["workers"]["machineDeployments"][0]["bootstrap"]["templateRef"]["name"]
    assert cp_template in _by_name(resources, "KubeadmControlPlaneTemplate")
    assert worker_template in _by_name(resources, "KubeadmConfigTemplate")
    patched = {d["selector"]["kind"] for p in spec["patches"] for d in p["definitions"]}
    assert {"KubeadmControlPlaneTemplate", "KubeadmConfigTemplate", "Metal3ClusterTemplate"} <= patched


def test_every_tenant_gets_the_baseline(resources: list[Registered], site_id: str) -> None:
    tenants = stack_config(site_id)["tenants"]
    namespaces = _by_name(resources, "Namespace")
    for tenant in tenants:
        from pdn.naming import tenant_namespace

        name = tenant_namespace(tenant["name"])
        labels = namespaces[name].meta["labels"]
        assert labels["pdn.go.id/tier"] == tenant["tier"]
        assert labels["pdn.go.id/classification"] == tenant["classification"]
        assert labels["pdn.go.id/site"] == site_id
        assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
        in_ns = [r for r in resources if r.custom and r.meta.get("namespace") == name]
        kinds = sorted(r.kind for r in in_ns)
        assert kinds.count("NetworkPolicy") == 3
        assert kinds.count("ResourceQuota") == 1 and kinds.count("LimitRange") == 1
        assert kinds.count("Role") == 2 and kinds.count("RoleBinding") == 2
        deny = next(r for r in in_ns if r.meta["name"] == "default-deny")
        assert deny.inputs["spec"]["policyTypes"] == ["Ingress", "Egress"]
        assert "ingress" not in deny.inputs["spec"] and "egress" not in deny.inputs["spec"]
        bindings = [r for r in in_ns if r.kind == "RoleBinding"]
        assert all(s["kind"] == "Group" for b in bindings for s in b.inputs["subjects"])


def test_quota_scales_with_tier(resources: list[Registered], site_id: str) -> None:
    from pdn.sites.vocabulary import Tier
    from pdn_infra.tiers import PROFILES

    namespaces = _by_name(resources, "Namespace")
    for quota in of_kind(resources, "ResourceQuota"):
        tier = namespaces[quota.meta["namespace"]].meta["labels"]["pdn.go.id/tier"]
        assert quota.inputs["spec"]["hard"]["requests.cpu"] == PROFILES[Tier(tier)].quota_cpu


def test_buckets_on_every_partner(resources: list[Registered], site_id: str) -> None:
    site = MODEL.site(site_id)
    buckets = [r for r in resources if r.type == "pulumi-python:dynamic:Resource"]
    assert sorted(b.inputs["endpoint"] for b in buckets) == sorted(
        MODEL.site(p.site).object_storage.endpoint for p in site.backup.partners
    )
    for bucket in buckets:
        assert bucket.inputs["bucket"] == f"pdn-backup-{site_id}"
        assert bucket.inputs["lock_mode"] in ("GOVERNANCE", "COMPLIANCE")
        assert bucket.inputs["retention_days"] >= 1
        assert bucket.inputs["force_destroy"] is False


def test_locations_read_write_to_partners_read_only_for_inbound(resources: list[Registered], site_id: str) -> None:
    site = MODEL.site(site_id)
    locations = _by_name(resources, "BackupStorageLocation")
    for partner in site.partner_ids:
        spec = locations[f"to-{partner}"].inputs["spec"]
        assert spec["accessMode"] == "ReadWrite"
        assert spec["config"]["s3Url"] == MODEL.site(partner).object_storage.endpoint
        assert spec["config"]["s3ForcePathStyle"] == "true"
    inbound = [s.id for s in MODEL.sites if site_id in s.partner_ids]
    assert inbound, "the national topology gives every site at least one inbound partner"
    for other in inbound:
        spec = locations[f"from-{other}"].inputs["spec"]
        assert spec["accessMode"] == "ReadOnly"
        assert spec["objectStorage"]["bucket"] == f"pdn-backup-{other}"
    assert len(locations) == len(site.partner_ids) + len(inbound)


def test_schedules_per_tier_and_partner(resources: list[Registered], site_id: str) -> None:
    from pdn.sites.vocabulary import Tier
    from pdn_infra.tiers import PROFILES

    site = MODEL.site(site_id)
    tiers_present = {t["tier"] for t in stack_config(site_id)["tenants"]}
    schedules = _by_name(resources, "Schedule")
    expected = {f"{tier}-to-{p.site}" for p in site.backup.partners for tier in p.tiers if tier in tiers_present}
    assert set(schedules) == expected
    for name, schedule in schedules.items():
        tier, _, target = name.partition("-to-")
        template = schedule.inputs["spec"]["template"]
        assert template["storageLocation"] == f"to-{target}"
        assert template["ttl"] == PROFILES[Tier(tier)].backup_ttl
        assert schedule.inputs["spec"]["schedule"] == PROFILES[Tier(tier)].backup_cron
        # never a backup at creation or at the server's first reconcile (the location is not validated yet)
        assert schedule.inputs["spec"]["skipImmediately"] is True
        assert template["includedNamespaces"] and all(n.startswith("tenant-") for n in template["includedNamespaces"])
    if "vital" in tiers_present:
        assert any(s.inputs["spec"]["schedule"].startswith("0 * ") for s in schedules.values()), "vital is hourly"


SECRET_SIG = "4dabf18193072939515e22adb298388d"  # Pulumi's marker of a secret value


def test_credentials_stay_secret(resources: list[Registered]) -> None:
    secrets = of_kind(resources, "Secret")
    assert secrets
    for secret in secrets:
        data = secret.inputs["stringData"]
        assert SECRET_SIG in data and "aws_secret_access_key=" in data["value"]["cloud"]
    buckets = [r for r in resources if r.type == "pulumi-python:dynamic:Resource"]
    assert buckets
    for bucket in buckets:
        for key in ("access_key", "secret_key"):
            assert SECRET_SIG in bucket.inputs[key], f"{key} must be a secret input"


def test_lab_mode_installs_crds_first(tmp_path: pytest.TempPathFactory) -> None:
    from pdn.stacks.crds import NEEDED_KINDS

    crd_dir = tmp_path
    for kind in NEEDED_KINDS:
        plural, group = kind.split(".", 1)
        (crd_dir / f"{kind}.yaml").write_text(  # type: ignore[operator]
            "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"
            f"metadata: {{name: {kind}}}\nspec: {{group: {group}, names: {{plural: {plural}, kind: X}}, "
            "scope: Namespaced, versions: []}\n"
        )
    config = {**stack_config("ikn"), "installCrds": True, "crdDir": str(crd_dir)}
    resources = run_program("ikn", config)
    crds = [r for r in resources if r.type.endswith("CustomResourceDefinition")]
    assert sorted(r.meta["name"] for r in crds) == sorted(NEEDED_KINDS)


def test_missing_credentials_is_one_clear_error() -> None:
    from pdn.errors import InputError

    with pytest.raises(InputError, match="pdn:s3Credentials"):
        run_program("batam", stack_config("batam"), credentials=False)


def test_bad_tenant_config_is_rejected() -> None:
    from pdn.errors import InputError

    config = {
        **stack_config("batam"),
        "tenants": [{"name": "X Y", "kind": "ministry", "tier": "gold", "classification": "public"}],
    }
    with pytest.raises(InputError, match="tier"):
        run_program("batam", config)
