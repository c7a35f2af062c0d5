"""The rules of the PDN policy pack as plain functions over a stack's resources.

Each rule takes the resources of one stack (type, name, urn, props, as Pulumi shows them to a
policy pack) and yields violations. Keeping them free of ``pulumi_policy`` lets unit tests feed
fixtures directly and lets ``__main__.py`` stay a thin adapter.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from pdn.sites.model import SiteModel

DOMAIN = "pdn.go.id"
SITE_LABEL = f"{DOMAIN}/site"
TENANT_LABEL = f"{DOMAIN}/tenant"
OWNER_LABEL = f"{DOMAIN}/bucket-owner"
TARGET_LABEL = f"{DOMAIN}/target-site"
DYNAMIC = "pulumi-python:dynamic:Resource"
WORKLOAD_KINDS = {"Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"}


@dataclass(frozen=True)
class Res:
    """One resource as a policy sees it."""

    type: str
    name: str
    props: Mapping[str, Any]
    urn: str = ""

    @property
    def kind(self) -> str:
        kind = self.props.get("kind")
        return str(kind) if kind else self.type.rsplit(":", 1)[-1]

    @property
    def is_k8s(self) -> bool:
        return self.type.startswith("kubernetes:")

    @property
    def metadata(self) -> Mapping[str, Any]:
        return self.props.get("metadata") or {}

    @property
    def labels(self) -> Mapping[str, str]:
        return self.metadata.get("labels") or {}

    @property
    def namespace(self) -> str:
        return str(self.metadata.get("namespace") or "")

    @property
    def object_name(self) -> str:
        return str(self.metadata.get("name") or "")

    @property
    def spec(self) -> Mapping[str, Any]:
        return self.props.get("spec") or {}


@dataclass(frozen=True)
class Violation:
    rule: str
    message: str
    urn: str = ""


@dataclass(frozen=True)
class Context:
    """What rules know beyond the resources: the site model and lab endpoints allowed."""

    model: SiteModel
    # endpoint URL -> site id, for lab/CI object stores that stand in for a site's endpoint
    lab_endpoints: Mapping[str, str] = field(default_factory=dict)


def stack_site(resources: Iterable[Res]) -> str | None:
    """The site a stack deploys: the most common ``pdn.go.id/site`` label."""
    counts = Counter(r.labels.get(SITE_LABEL) for r in resources if r.is_k8s and r.labels.get(SITE_LABEL))
    return counts.most_common(1)[0][0] if counts else None


def _k8s(resources: Iterable[Res], kind: str) -> list[Res]:
    return [r for r in resources if r.is_k8s and r.kind == kind]


def _locations(resources: Iterable[Res]) -> dict[str, Res]:
    return {r.object_name: r for r in _k8s(resources, "BackupStorageLocation")}


def _target(location: Res) -> str | None:
    return location.labels.get(TARGET_LABEL)


def _owner(location: Res) -> str | None:
    owner = location.labels.get(OWNER_LABEL)
    bucket = str((location.spec.get("objectStorage") or {}).get("bucket") or "")
    if bucket.startswith("pdn-backup-"):
        from_name = bucket.removeprefix("pdn-backup-")
        if owner and owner != from_name:
            return f"{owner}|{from_name}"  # inconsistent: never equal to a site id
        return from_name
    return owner


def offsite_schedule(resources: list[Res], ctx: Context) -> Iterator[Violation]:
    """Every site has at least one backup schedule writing to another site."""
    site = stack_site(resources)
    locations = _locations(resources)
    for schedule in _k8s(resources, "Schedule"):
        name = str((schedule.spec.get("template") or {}).get("storageLocation") or "")
        location = locations.get(name)
        if (
            location is not None
            and location.spec.get("accessMode", "ReadWrite") == "ReadWrite"
            and _target(location) not in (None, site)
        ):
            return
    yield Violation("offsite-backup-schedule", f"site {site}: no backup schedule writes to another site")


def not_self_only(resources: list[Res], ctx: Context) -> Iterator[Violation]:
    """A site never backs up only to itself (locations and buckets alike)."""
    site = stack_site(resources)
    writers = [r for r in _locations(resources).values() if r.spec.get("accessMode", "ReadWrite") == "ReadWrite"]
    targets = {_target(r) for r in writers}
    if writers and targets <= {site, None}:
        yield Violation("no-self-only-backup", f"site {site}: every writable backup location is on the site itself")
    buckets = [r for r in resources if r.type == DYNAMIC and "bucket" in r.props]
    bucket_targets = {(r.props.get("tags") or {}).get(TARGET_LABEL) for r in buckets}
    if buckets and bucket_targets <= {site, None}:
        yield Violation("no-self-only-backup", f"site {site}: every backup bucket is on the site itself")


def foreign_read_only(resources: list[Res], ctx: Context) -> Iterator[Violation]:
    """A location on a bucket written by another site must be ReadOnly (one writer per bucket)."""
    site = stack_site(resources)
    for location in _locations(resources).values():
        owner = _owner(location)
        if owner != site and location.spec.get("accessMode", "ReadWrite") != "ReadOnly":
            yield Violation(
                "foreign-buckets-read-only",
                f"location {location.object_name}: bucket of {owner or 'an unknown site'} must be ReadOnly",
                location.urn,
            )


def _default_deny(policy: Res) -> bool:
    spec = policy.spec
    selector = spec.get("podSelector")
    return (
        selector is not None
        and not (selector.get("matchLabels") or selector.get("matchExpressions"))
        and {"Ingress", "Egress"} <= set(spec.get("policyTypes") or [])
        and not spec.get("ingress")
        and not spec.get("egress")
    )


def tenant_baseline(resources: list[Res], ctx: Context) -> Iterator[Violation]:
    """Every tenant namespace has quota, limits, default-deny and PSA ``restricted`` labels."""
    for namespace in _k8s(resources, "Namespace"):
        name = namespace.object_name
        if not (namespace.labels.get(TENANT_LABEL) or name.startswith("tenant-")):
            continue
        missing = []
        for mode in ("enforce", "audit", "warn"):
            if namespace.labels.get(f"pod-security.kubernetes.io/{mode}") != "restricted":
                missing.append(f"PSA {mode}=restricted")
        if not any(r.namespace == name for r in _k8s(resources, "ResourceQuota")):
            missing.append("ResourceQuota")
        if not any(r.namespace == name for r in _k8s(resources, "LimitRange")):
            missing.append("LimitRange")
        if not any(r.namespace == name and _default_deny(r) for r in _k8s(resources, "NetworkPolicy")):
            missing.append("default-deny NetworkPolicy")
        if missing:
            yield Violation("tenant-namespace-baseline", f"namespace {name} lacks {', '.join(missing)}", namespace.urn)


def _pod_spec(resource: Res) -> Mapping[str, Any] | None:
    spec = resource.spec
    if resource.kind == "Pod":
        return spec
    if resource.kind == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    return (spec.get("template") or {}).get("spec")


def pod_violations(resource: Res) -> Iterator[Violation]:
    """Privileged containers and host namespaces in a tenant namespace."""
    if not (resource.is_k8s and resource.kind in WORKLOAD_KINDS and resource.namespace.startswith("tenant-")):
        return
    spec = _pod_spec(resource) or {}
    where = f"{resource.kind} {resource.namespace}/{resource.object_name}"
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(flag):
            yield Violation("no-privileged-tenant-pods", f"{where} uses {flag}", resource.urn)
    for group in ("initContainers", "containers", "ephemeralContainers"):
        for container in spec.get(group) or []:
            context = container.get("securityContext") or {}
            if context.get("privileged") or context.get("allowPrivilegeEscalation") is True:
                yield Violation(
                    "no-privileged-tenant-pods",
                    f"{where}: container {container.get('name')} is privileged or may escalate",
                    resource.urn,
                )
            added = set((context.get("capabilities") or {}).get("add") or [])
            if added & {"SYS_ADMIN", "NET_ADMIN", "ALL"}:
                yield Violation(
                    "no-privileged-tenant-pods",
                    f"{where}: container {container.get('name')} adds {sorted(added)}",
                    resource.urn,
                )


def no_privileged_pods(resources: list[Res], ctx: Context) -> Iterator[Violation]:
    for resource in resources:
        yield from pod_violations(resource)


def _residency_of(url: str, ctx: Context) -> str | None:
    """Site id an endpoint belongs to, if that site is inside Indonesia; else None."""
    normal = url.rstrip("/")
    site_id = ctx.lab_endpoints.get(normal)
    if site_id is None:
        host = urlsplit(normal).hostname
        site_id = next((s.id for s in ctx.model.sites if urlsplit(s.object_storage.endpoint).hostname == host), None)
    if site_id is None:
        return None
    site = ctx.model.site(site_id)
    inside = site.country == ctx.model.policy.country and ctx.model.policy.territory.contains(site.coordinates)
    return site_id if inside else None


def data_residency(resources: list[Res], ctx: Context) -> Iterator[Violation]:
    """Every object-store endpoint and bucket is at an Indonesian site of the site model."""
    known = set(ctx.model.ids)
    for location in _k8s(resources, "BackupStorageLocation"):
        url = str((location.spec.get("config") or {}).get("s3Url") or "")
        if not url or _residency_of(url, ctx) is None:
            yield Violation(
                "data-residency",
                f"location {location.object_name}: endpoint {url or '(none)'} is not an Indonesian PDN site",
                location.urn,
            )
    for bucket in (r for r in resources if r.type == DYNAMIC and "bucket" in r.props):
        url = str(bucket.props.get("endpoint") or "")
        if _residency_of(url, ctx) is None:
            yield Violation(
                "data-residency",
                f"bucket {bucket.props.get('bucket')}: endpoint {url} is not an Indonesian PDN site",
                bucket.urn,
            )
    for cluster in _k8s(resources, "Cluster"):
        variables = {v.get("name"): v.get("value") for v in (cluster.spec.get("topology") or {}).get("variables") or []}
        region = variables.get("region")
        if region not in known:
            yield Violation(
                "data-residency", f"cluster {cluster.object_name}: region {region} is not a PDN site", cluster.urn
            )


Rule = Callable[[list[Res], Context], Iterator[Violation]]
RULES: dict[str, tuple[str, Rule]] = {
    "offsite-backup-schedule": ("Every site has at least one backup schedule to another site.", offsite_schedule),
    "no-self-only-backup": ("No site backs up only to itself.", not_self_only),
    "foreign-buckets-read-only": (
        "Backup locations on buckets written by other sites are ReadOnly.",
        foreign_read_only,
    ),
    "tenant-namespace-baseline": (
        "Tenant namespaces have quota, limits, default-deny and PSA restricted.",
        tenant_baseline,
    ),
    "no-privileged-tenant-pods": ("No privileged or host-namespace pods in tenant namespaces.", no_privileged_pods),
    "data-residency": ("Every endpoint and bucket is at an Indonesian PDN site.", data_residency),
}


def check_all(resources: list[Res], ctx: Context) -> list[Violation]:
    return [violation for _, rule in RULES.values() for violation in rule(resources, ctx)]
