"""The program behind every site stack: read config and site model, build the components."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from pdn.errors import InputError
from pdn.sites import load_sites
from pdn_infra import labels as L
from pdn_infra.backup import BackupPolicy, BackupPolicyArgs, Endpoint
from pdn_infra.cluster import SiteCluster, SiteClusterArgs, site_namespace
from pdn_infra.crds import CrdBundle
from pdn_infra.settings import StackSettings, WorkloadCluster, config_keys, parse_settings
from pdn_infra.tenants import TenantPlatform, TenantPlatformArgs
from pdn_infra.workload import NetworkAddons, workload_provider


def kube_router_image(site: Any) -> str:
    """The kube-router image name the lab's nodes hold (built locally, pdn.nodes.podimages)."""
    from pdn.nodes.podimages import pod_images

    return next(image.name for image in pod_images(site.kubernetes.version) if image.recipe == "kube-router")


def read_settings(config: pulumi.Config) -> StackSettings:
    """The ``pdn:`` config, key by key as :class:`StackSettings` names them (text keys as text,
    the others as JSON objects), validated by the model."""
    raw: dict[str, Any] = {}
    for key, text in config_keys().items():
        value = config.get(key) if text else config.get_object(key)
        if value is not None:
            raw[key] = value
    if "site" not in raw:
        raise InputError("stack config pdn:site is missing", hint="set it in stacks/Pulumi.<stack>.yaml")
    return parse_settings(raw)


def build(config: pulumi.Config | None = None) -> dict[str, Any]:
    """Create every resource of the stack; returns the components (for tests)."""
    config = config or pulumi.Config("pdn")
    settings = read_settings(config)
    model = load_sites()
    try:
        site = model.site(settings.site)
    except KeyError as error:
        raise InputError(str(error.args[0])) from None
    credentials = config.get_secret_object("s3Credentials")
    if credentials is None:
        needed = sorted({p.site for p in site.backup.partners} | {site.id})
        raise InputError(
            "stack config pdn:s3Credentials is missing",
            hint="set it as a secret for sites "
            + ", ".join(needed)
            + ": pulumi config set --secret --path 'pdn:s3Credentials.<site>.accessKey' ... (and secretKey)",
        )

    provider = k8s.Provider(
        f"k8s-{site.id}",
        kubeconfig=settings.kubeconfig,
        context=settings.kube_context,
        cluster_identifier=settings.cluster_identifier or f"pdn-{site.id}",
        enable_server_side_apply=True,
    )
    with_provider = pulumi.ResourceOptions(provider=provider)
    on_cluster_api = settings.workload_cluster is WorkloadCluster.CLUSTER_API
    if settings.install_crds and not settings.crd_dir:
        raise InputError("pdn:installCrds needs pdn:crdDir", hint="run `pdn stacks crds` and set pdn:crdDir")
    depends: list[pulumi.Resource] = []
    crds: CrdBundle | None = None
    if settings.install_crds and settings.crd_dir and not on_cluster_api:
        crds = CrdBundle("crds", settings.crd_dir, with_provider)
        depends = list(crds.crds)
    opts = pulumi.ResourceOptions(provider=provider, depends_on=depends)

    cluster = SiteCluster("cluster", SiteClusterArgs(site, settings.infrastructure, wait=on_cluster_api), opts)
    if on_cluster_api:  # tenants and backups go to the cluster Cluster API makes
        workload = workload_provider(f"k8s-{site.id}-workload", site, site_namespace(site), cluster.cluster, provider)
        addons = NetworkAddons(
            "network",
            cluster.control_plane_endpoint,
            kube_router_image(site),
            pulumi.ResourceOptions(provider=workload),
        )
        depends = [addons]
        if settings.install_crds and settings.crd_dir:
            crds = CrdBundle("crds", settings.crd_dir, pulumi.ResourceOptions(provider=workload), groups=("velero.io",))
            depends += list(crds.crds)
        opts = pulumi.ResourceOptions(provider=workload, depends_on=depends)
    tenants = TenantPlatform("tenants", TenantPlatformArgs(site, settings.tenants), opts)
    by_tier: dict[str, list[str]] = {}
    for tenant in settings.tenants:
        by_tier.setdefault(tenant.tier.value, []).append(L.tenant_namespace(tenant.name))
    endpoints = {
        other.id: Endpoint(
            url=settings.s3_endpoints.get(other.id, other.object_storage.endpoint),
            region=settings.s3_regions.get(other.id, other.object_storage.region),
            cluster_url=settings.s3_cluster_endpoints.get(other.id, ""),
        )
        for other in model.sites
    }
    backup = BackupPolicy(
        "backup",
        BackupPolicyArgs(
            model=model,
            site=site,
            settings=settings.backup,
            endpoints=endpoints,
            credentials=credentials,
            namespaces_by_tier=by_tier,
        ),
        opts,
    )
    pulumi.export("site", site.id)
    pulumi.export("clusterNamespace", cluster.namespace)
    pulumi.export("tenantNamespaces", tenants.namespaces)
    pulumi.export("buckets", backup.buckets)
    pulumi.export("backupLocations", backup.locations)
    pulumi.export("backupSchedules", backup.schedules)
    return {"provider": provider, "crds": crds, "cluster": cluster, "tenants": tenants, "backup": backup}
