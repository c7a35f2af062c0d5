"""Cross-region backup policy of one site, from the site model's backup topology.

For every partner the site sends backups to: a bucket ``pdn-backup-<site>`` on the partner's S3
endpoint (created through boto3: versioning, object lock, lifecycle), a ReadWrite Velero
BackupStorageLocation pointing at it, and one Schedule per tenant tier that partner receives
(a Velero backup has a single location, so each off-site copy is its own schedule). For every
site that sends backups *here*, a ReadOnly location on the bucket it writes in this site's
object store, so that this site can restore that site's tenants.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from pdn.sites.model import Site, SiteModel
from pdn.sites.vocabulary import Tier
from pdn.stacks.s3bucket import S3Bucket, S3BucketArgs
from pdn_infra import labels as L
from pdn_infra.settings import BackupSettings
from pdn_infra.tiers import PROFILES

VELERO = "velero.io/v1"
SCHEDULE_VELERO_OWNED = "spec.skipImmediately"  # set by the stack at creation, reset by Velero


@dataclass(frozen=True)
class Endpoint:
    url: str
    region: str
    # The same store as the site's cluster reaches it (Velero's node agent and its data-mover pods
    # read and write the Kopia repository there); the URL itself unless a network sits in between.
    cluster_url: str = ""

    @property
    def location_url(self) -> str:
        return self.cluster_url or self.url


@dataclass(frozen=True)
class BackupPolicyArgs:
    model: SiteModel
    site: Site
    settings: BackupSettings
    endpoints: Mapping[str, Endpoint]
    # site id -> {"accessKey": ..., "secretKey": ...}; a secret Output in real stacks.
    credentials: pulumi.Output[Any]
    # tier -> tenant namespaces of that tier on this site
    namespaces_by_tier: Mapping[str, list[str]] = field(default_factory=dict)


def inbound_sites(model: SiteModel, site: Site) -> list[Site]:
    """Sites that send their backups to ``site`` (their buckets live in its object store)."""
    return [other for other in model.sites if other.id != site.id and site.id in other.partner_ids]


def _credential(credentials: pulumi.Output[Any], site_id: str, key: str) -> pulumi.Output[str]:
    def pick(values: Any) -> str:
        try:
            return str(values[site_id][key])
        except (KeyError, TypeError):
            raise pulumi.RunError(
                f"missing secret pdn:s3Credentials.{site_id}.{key}: set it with "
                f"pulumi config set --secret --path 'pdn:s3Credentials.{site_id}.{key}' VALUE"
            ) from None

    return pulumi.Output.secret(credentials.apply(pick))


def _cloud_file(access_key: pulumi.Output[str], secret_key: pulumi.Output[str]) -> pulumi.Output[str]:
    return pulumi.Output.secret(
        pulumi.Output.concat("[default]\naws_access_key_id=", access_key, "\naws_secret_access_key=", secret_key, "\n")
    )


class BackupPolicy(pulumi.ComponentResource):
    """Buckets on the partners, Velero locations and schedules in this site's cluster."""

    buckets: pulumi.Output[list[str]]
    locations: pulumi.Output[list[str]]
    schedules: pulumi.Output[list[str]]

    def __init__(self, name: str, args: BackupPolicyArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pdn:infra:BackupPolicy", name, None, opts)
        site, settings = args.site, args.settings
        ns_name = settings.velero_namespace
        namespace = k8s.core.v1.Namespace(
            f"{name}-ns",
            # Privileged on purpose: Velero's node agent and its data-mover pods run here as root
            # with the nodes' pod-volume folders mounted (file-system backups); nothing else does.
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=ns_name,
                labels={L.SITE: site.id, L.MANAGED_BY: "pulumi", "pod-security.kubernetes.io/enforce": "privileged"},
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        in_ns = pulumi.ResourceOptions(parent=self, depends_on=[namespace])
        bucket_names: list[str] = []
        location_names: list[str] = []
        schedule_names: list[str] = []

        def meta(object_name: str, extra: dict[str, str]) -> k8s.meta.v1.ObjectMetaArgs:
            return k8s.meta.v1.ObjectMetaArgs(
                name=object_name,
                namespace=ns_name,
                labels={L.SITE: site.id, L.MANAGED_BY: "pulumi", **extra},
            )

        def secret_for(target: str) -> k8s.core.v1.Secret:
            access = _credential(args.credentials, target, "accessKey")
            secret = _credential(args.credentials, target, "secretKey")
            return k8s.core.v1.Secret(
                f"{name}-credentials-{target}",
                metadata=meta(f"s3-{target}", {L.TARGET_SITE: target}),
                type="Opaque",
                string_data={"cloud": _cloud_file(access, secret)},
                opts=in_ns,
            )

        def location(
            object_name: str,
            bucket: str,
            target: str,
            owner: str,
            mode: str,
            credentials: k8s.core.v1.Secret,
            depends: list[pulumi.Resource],
        ) -> None:
            endpoint = args.endpoints[target]
            k8s.apiextensions.CustomResource(
                f"{name}-bsl-{object_name}",
                api_version=VELERO,
                kind="BackupStorageLocation",
                metadata=meta(object_name, {L.TARGET_SITE: target, L.BUCKET_OWNER: owner}),
                spec={
                    "provider": "velero.io/aws",
                    "objectStorage": {"bucket": bucket, "prefix": "velero"},
                    "config": {"region": endpoint.region, "s3ForcePathStyle": "true", "s3Url": endpoint.location_url},
                    "credential": {"name": credentials.metadata.name, "key": "cloud"},
                    "accessMode": mode,
                },
                opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace, credentials, *depends]),
            )
            location_names.append(object_name)

        for partner in site.backup.partners:
            target = partner.site
            endpoint = args.endpoints[target]
            bucket_name = L.bucket_name(site.id)
            bucket = S3Bucket(
                f"{name}-bucket-{target}",
                S3BucketArgs(
                    bucket=bucket_name,
                    endpoint=endpoint.url,
                    region=endpoint.region,
                    access_key=_credential(args.credentials, target, "accessKey"),
                    secret_key=_credential(args.credentials, target, "secretKey"),
                    lock_mode=settings.lock_mode,
                    retention_days=settings.retention_days,
                    noncurrent_expiry_days=settings.noncurrent_expiry_days,
                    force_destroy=settings.force_destroy,
                    tags={L.BUCKET_OWNER: site.id, L.TARGET_SITE: target},
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
            bucket_names.append(f"{target}/{bucket_name}")
            loc_name = f"to-{target}"
            location(loc_name, bucket_name, target, site.id, "ReadWrite", secret_for(target), [bucket])
            for tier_name in partner.tiers:
                namespaces = sorted(args.namespaces_by_tier.get(tier_name, []))
                if not namespaces:
                    continue
                profile = PROFILES[Tier(tier_name)]
                schedule = f"{tier_name}-to-{target}"
                k8s.apiextensions.CustomResource(
                    f"{name}-schedule-{schedule}",
                    api_version=VELERO,
                    kind="Schedule",
                    metadata=meta(schedule, {L.TIER: tier_name, L.TARGET_SITE: target}),
                    spec={
                        "schedule": profile.backup_cron,
                        # No backup at creation or first reconcile: before its location is validated
                        # it would fail (pdn.backup.firstbackup takes the first one once it is Available).
                        # Velero resets it to false at that reconcile and then owns the field.
                        "skipImmediately": True,
                        "useOwnerReferencesInBackup": False,
                        "template": {
                            "includedNamespaces": namespaces,
                            "storageLocation": loc_name,
                            "ttl": profile.backup_ttl,
                            "snapshotVolumes": False,
                            "defaultVolumesToFsBackup": True,
                            "metadata": {"labels": {L.SITE: site.id, L.TIER: tier_name}},
                        },
                    },
                    # With server-side apply an ignored field owned by another manager is left out
                    # of the update, so a later update does not conflict with Velero's false.
                    opts=pulumi.ResourceOptions(
                        parent=self, depends_on=[namespace], ignore_changes=[SCHEDULE_VELERO_OWNED]
                    ),
                )
                schedule_names.append(schedule)

        inbound = inbound_sites(args.model, site)
        if inbound:
            local = secret_for(site.id)
            for other in inbound:
                location(f"from-{other.id}", L.bucket_name(other.id), site.id, other.id, "ReadOnly", local, [])

        self.buckets = pulumi.Output.from_input(bucket_names)
        self.locations = pulumi.Output.from_input(location_names)
        self.schedules = pulumi.Output.from_input(schedule_names)
        self.register_outputs({"buckets": self.buckets, "locations": self.locations, "schedules": self.schedules})
