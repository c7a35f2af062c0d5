"""Typed stack configuration (the ``pdn:`` namespace of ``stacks/Pulumi.<site>.yaml``).

Site facts come from the site model; the stack config only picks the site and adds what the
model does not hold: tenants, where the cluster and the object stores are reached (the lab
overrides them), credentials (Pulumi secrets) and the infrastructure provider of Cluster API.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from pdn.errors import InputError
from pdn.naming import tenant_slug
from pdn.sites.vocabulary import Classification, Tier


class Camel(BaseModel):
    """Config keys are camelCase in YAML (Pulumi's convention), snake_case in Python."""

    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True)


class TenantKind(StrEnum):
    MINISTRY = "ministry"
    AGENCY = "agency"
    LOCAL_GOVERNMENT = "local-government"
    SUPER_APP = "super-app"


class TenantConfig(Camel):
    """One tenant: a ministry, agency or local government, or a national super app."""

    name: str = Field(min_length=2, description="Official name; the namespace is tenant-<slug(name)>.")
    kind: TenantKind
    tier: Tier
    classification: Classification
    admin_groups: list[str] = Field(default_factory=list, description="Default: pdn:tenant:<slug>:admins")
    reader_groups: list[str] = Field(default_factory=list, description="Default: pdn:tenant:<slug>:readers")

    @property
    def slug(self) -> str:
        """The tenant's name in labels, group names and its namespace (:mod:`pdn.naming`)."""
        return tenant_slug(self.name)

    def admins(self) -> list[str]:
        return self.admin_groups or [f"pdn:tenant:{self.slug}:admins"]

    def readers(self) -> list[str]:
        return self.reader_groups or [f"pdn:tenant:{self.slug}:readers"]


class InfrastructureProvider(Camel):
    """Cluster API infrastructure provider whose templates the ClusterClass references.

    The templates themselves belong to the provider's installation (Metal3 by default: the
    PDN halls are bare metal); ``failure_domains_path`` is where the ClusterClass patch writes
    the site's failure domains into the infrastructure cluster template.
    """

    api_version: str = "infrastructure.cluster.x-k8s.io/v1beta1"
    cluster_template_kind: str = "Metal3ClusterTemplate"
    machine_template_kind: str = "Metal3MachineTemplate"
    failure_domains_path: str = "/spec/template/spec/failureDomains"


class BackupSettings(Camel):
    retention_days: int = Field(default=30, ge=1, le=3650, description="Object-lock default retention")
    lock_mode: str = Field(default="GOVERNANCE", pattern=r"^(GOVERNANCE|COMPLIANCE)$")
    noncurrent_expiry_days: int = Field(default=45, ge=1, description="Lifecycle: drop old versions after")
    force_destroy: bool = Field(default=False, description="Let destroy empty the buckets (lab only)")
    velero_namespace: str = "velero"


class StackSettings(Camel):
    site: str
    tenants: list[TenantConfig] = Field(default_factory=list)
    kubeconfig: str | None = Field(default=None, description="Path of the kubeconfig; default: ambient")
    kube_context: str | None = None
    cluster_identifier: str | None = Field(default=None, description="Default: pdn-<site>")
    s3_endpoints: dict[str, str] = Field(default_factory=dict, description="Per-site endpoint override")
    s3_regions: dict[str, str] = Field(default_factory=dict, description="Per-site region override")
    s3_cluster_endpoints: dict[str, str] = Field(
        default_factory=dict,
        description="Per-site endpoint as this site's cluster reaches it (Velero locations); default: s3Endpoints",
    )
    install_crds: bool = Field(default=False, description="Install the pinned CRDs (lab and CI clusters)")
    crd_dir: str | None = None
    backup: BackupSettings = Field(default_factory=BackupSettings)
    infrastructure: InfrastructureProvider = Field(default_factory=InfrastructureProvider)

    def tenant_problems(self) -> list[str]:
        seen: dict[str, str] = {}
        problems = []
        for tenant in self.tenants:
            if tenant.slug in seen:
                problems.append(f"tenants {seen[tenant.slug]!r} and {tenant.name!r} share the slug {tenant.slug}")
            seen[tenant.slug] = tenant.name
        return problems


def config_keys() -> dict[str, bool]:
    """Every ``pdn:`` key of the stack config (camelCase, from the model), and whether its value is
    plain text (``str`` or ``str | None``) rather than a JSON object. ``s3Credentials`` is not a
    setting: the program reads it as a secret."""
    return {
        field.alias or name: field.annotation in (str, str | None) for name, field in StackSettings.model_fields.items()
    }


def parse_settings(raw: dict[str, Any]) -> StackSettings:
    """Validate the ``pdn:`` config; every problem becomes one :class:`InputError` line."""
    try:
        settings = StackSettings.model_validate(raw)
    except ValidationError as error:
        lines = "; ".join(
            f"pdn:{'.'.join(str(part) for part in item['loc'])}: {item['msg']}" for item in error.errors()
        )
        raise InputError(f"invalid stack config: {lines}") from None
    problems = settings.tenant_problems()
    if problems:
        raise InputError("invalid stack config: " + "; ".join(problems))
    return settings
