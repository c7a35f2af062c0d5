"""Typed stack configuration (the ``pdn:`` namespace of ``stacks/Pulumi.<site>.yaml``).

Site facts come from the site model; the stack config only picks the site and adds what the
model does not hold: tenants, where the cluster and the object stores are reached (the lab
overrides them), credentials (Pulumi secrets) and the infrastructure provider of Cluster API.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel

from pdn.errors import InputError
from pdn.naming import tenant_slug
from pdn.sites.model import KubernetesVersion
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


class InfrastructureKind(StrEnum):
    METAL3 = "metal3"
    DOCKER = "docker"


#: Template kinds and API version of each infrastructure provider the ClusterClass can use.
INFRASTRUCTURE_DEFAULTS: dict[InfrastructureKind, dict[str, str]] = {
    InfrastructureKind.METAL3: {
        "api_version": "infrastructure.cluster.x-k8s.io/v1beta1",
        "cluster_template_kind": "Metal3ClusterTemplate",
        "machine_template_kind": "Metal3MachineTemplate",
    },
    InfrastructureKind.DOCKER: {
        "api_version": "infrastructure.cluster.x-k8s.io/v1beta2",
        "cluster_template_kind": "DockerClusterTemplate",
        "machine_template_kind": "DockerMachineTemplate",
    },
}


class DockerSettings(Camel):
    """What Cluster API's Docker provider needs to make the lab's machines (``pdn stacks up --lab``
    fills it in for the site ``pdn lab capi up --for`` names; docs/capi.md): our node image, the
    load balancer image, the folder of pod images every machine imports at boot, the ``kind``
    network's subnet, and how many machines the lab can hold. A machine runs the node image of its
    own release (a ClusterClass patch picks it), so an upgrade rolls each machine onto the new one."""

    node_images: dict[
        KubernetesVersion,
        Annotated[str, Field(pattern=r"^localhost/[a-z0-9][a-z0-9._/-]*:[A-Za-z0-9._-]+$")],
    ] = Field(min_length=1, description="Kubernetes release -> our node image at that release")
    load_balancer_image_repository: str = Field(default="localhost/pdn", pattern=r"^localhost(/[a-z0-9._-]+)*$")
    load_balancer_image_tag: str = Field(pattern=r"^[A-Za-z0-9._-]{1,128}$")
    images_dir: str = Field(pattern=r"^/[A-Za-z0-9._/-]+$", description="Host folder of the pod image archives")
    network_subnet: str = Field(pattern=r"^\d{1,3}(\.\d{1,3}){3}/\d{1,2}$")
    control_plane_replicas: int | None = Field(
        default=None, ge=1, le=5, description="Lab cap on the site model's count"
    )
    worker_replicas: dict[str, int] | None = Field(
        default=None, description="Lab cap per worker pool on the site model's count; pools not named get 0"
    )


class InfrastructureProvider(Camel):
    """Cluster API infrastructure provider whose templates the ClusterClass references.

    ``metal3`` (default: the PDN halls are bare metal): the templates belong to the provider's
    installation and are referenced, not created. ``docker`` (the lab): the stack creates the
    Docker provider's templates from ``docker`` as well. ``failure_domains_path`` is where the
    ClusterClass patch writes the site's failure domains into the infrastructure cluster template.
    """

    kind: InfrastructureKind = InfrastructureKind.METAL3
    api_version: str = ""
    cluster_template_kind: str = ""
    machine_template_kind: str = ""
    failure_domains_path: str = "/spec/template/spec/failureDomains"
    docker: DockerSettings | None = None

    @model_validator(mode="after")
    def _defaults(self) -> InfrastructureProvider:
        for name, value in INFRASTRUCTURE_DEFAULTS[self.kind].items():
            if not getattr(self, name):
                object.__setattr__(self, name, value)
        if (self.kind is InfrastructureKind.DOCKER) != (self.docker is not None):
            raise ValueError("infrastructure.docker is required with kind docker and refused otherwise")
        return self


class WorkloadCluster(StrEnum):
    """Where the tenant platform and backup policy go."""

    SAME = "same"  # the cluster the stack's kubeconfig reaches (it also holds the Cluster API objects)
    CLUSTER_API = "cluster-api"  # the cluster Cluster API makes from the stack's Cluster


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
    workload_cluster: WorkloadCluster = Field(
        default=WorkloadCluster.SAME, description="Tenants and backups on this cluster, or on the one Cluster API makes"
    )

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

    def text(annotation: Any) -> bool:
        return annotation in (str, str | None) or (isinstance(annotation, type) and issubclass(annotation, StrEnum))

    return {field.alias or name: text(field.annotation) for name, field in StackSettings.model_fields.items()}


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
