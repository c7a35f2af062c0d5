"""Typed models of the national site model (``stacks/sites.yaml``).

The file is the single source of truth for every part of the platform: the Pulumi stacks, the
lab, the Ansible inventories, the backup topology and migration placement all read it through
these models. Unknown fields are rejected so that a typo never silently drops a setting.
"""

from __future__ import annotations

from enum import StrEnum
from ipaddress import IPv4Network
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from pdn.sites.vocabulary import Tier

SITE_ID = r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$"
SiteId = Annotated[str, Field(pattern=SITE_ID)]


class Strict(BaseModel):
    """Base for every model here: unknown fields are errors, instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Estimate(Strict):
    """Marks a figure as a planning estimate rather than a published fact."""

    estimate: bool = False
    source: str | None = Field(default=None, description="Where the figure comes from.")


class Coordinates(Estimate):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class Power(Estimate):
    capacity_mw: float = Field(gt=0, description="IT power capacity of the site in megawatts.")


class RiskLevel(StrEnum):
    LOW = "low"
    MODERATE = "moderate"
    HIGH = "high"


class Risk(Strict):
    seismic: RiskLevel
    volcanic: RiskLevel
    notes: str


class FibreLink(Strict):
    """A backbone link from this site towards another site or landing point."""

    to: str = Field(description="Site id or landing point the link reaches.")
    system: str = Field(description="Cable system or backbone name.")
    kind: str = Field(default="terrestrial", pattern=r"^(terrestrial|submarine|mixed)$")
    estimate: bool = False


class FailureDomain(Strict):
    """A hall or zone inside the site that fails independently of the others."""

    id: Annotated[str, Field(pattern=r"^[a-z0-9-]+$")]
    zone: Annotated[str, Field(pattern=r"^[a-z0-9-]+$", description="topology.kubernetes.io/zone value")]
    description: str = ""


class WorkerPool(Strict):
    name: Annotated[str, Field(pattern=r"^[a-z0-9-]+$")]
    failure_domain: str = Field(description="Id of the failure domain the pool lives in.")
    replicas: int = Field(ge=0, le=1000)
    cpu: int = Field(default=16, ge=1, description="vCPU per node.")
    memory_gib: int = Field(default=64, ge=1, description="Memory per node in GiB.")
    labels: dict[str, str] = Field(default_factory=dict)


class ControlPlane(Strict):
    replicas: int = Field(ge=1, le=7)

    @field_validator("replicas")
    @classmethod
    def _odd(cls, value: int) -> int:
        if value % 2 == 0:
            raise ValueError("control-plane replicas must be odd so that etcd keeps a quorum")
        return value


KubernetesVersion = Annotated[str, Field(pattern=r"^v1\.\d{1,3}\.\d{1,3}$")]


def _release(version: str) -> tuple[int, int, int]:
    major, minor, patch = version.removeprefix("v").split(".")
    return int(major), int(minor), int(patch)


class Kubernetes(Strict):
    version: KubernetesVersion
    upgrade_from: list[KubernetesVersion] = Field(
        default_factory=list,
        description="Older releases the site's clusters may still run while Cluster API rolls them to "
        "`version` (same or previous minor); the ClusterClass accepts them too. Empty once every cluster moved.",
    )
    control_plane: ControlPlane
    worker_pools: list[WorkerPool] = Field(min_length=1)
    pod_cidr: str = "10.244.0.0/16"
    service_cidr: str = "10.96.0.0/12"

    @field_validator("upgrade_from")
    @classmethod
    def _older_releases(cls, values: list[str], info: ValidationInfo) -> list[str]:
        version = info.data.get("version")
        if version is None:
            return values
        target = _release(version)
        for value in values:
            release = _release(value)
            if release >= target or release[0] != target[0] or target[1] - release[1] > 1:
                raise ValueError(f"{value} is not an older release of the same or previous minor than {version}")
        if len(set(values)) != len(values):
            raise ValueError("a release is listed twice")
        return values

    @property
    def versions(self) -> list[str]:
        """Every release the site's clusters may run now, oldest first (the ClusterClass's list)."""
        return sorted({self.version, *self.upgrade_from}, key=_release)


class ObjectStorage(Strict):
    endpoint: Annotated[str, Field(pattern=r"^https?://")]
    region: str
    networks: list[IPv4Network] = Field(
        default_factory=list,
        description="Address ranges the endpoint answers on: migrated apps' NetworkPolicy lets their pods reach them.",
    )


class BackupPartner(Strict):
    site: str = Field(description="Id of the site that receives this site's backups.")
    tiers: list[Tier] = Field(
        default_factory=lambda: sorted(Tier, key=lambda tier: -tier.rank),
        description="Tenant tiers whose backups go to this partner.",
    )
    volume_tb: float | None = Field(
        default=None, ge=0, description="Volume sent to this partner in TB; default: the site's volume_tb."
    )


class Backup(Strict):
    volume_tb: float = Field(ge=0, description="Backup volume this site sends to a partner, in TB.")
    capacity_tb: float = Field(ge=0, description="Backup volume this site can receive from others, in TB.")
    partners: list[BackupPartner] = Field(default_factory=list)


class Site(Strict):
    id: SiteId
    name: str
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")] = "ID"
    province: str
    island: str
    order: int = Field(ge=1, description="Build order: 1 is the first national data centre.")
    coordinates: Coordinates
    power: Power
    risk: Risk
    fibre: list[FibreLink] = Field(default_factory=list)
    failure_domains: list[FailureDomain] = Field(min_length=1)
    kubernetes: Kubernetes
    object_storage: ObjectStorage
    backup: Backup
    notes: str = ""

    def failure_domain(self, domain_id: str) -> FailureDomain:
        """The failure domain with this id (the loader guarantees it exists)."""
        return next(domain for domain in self.failure_domains if domain.id == domain_id)

    @property
    def partner_ids(self) -> list[str]:
        return [partner.site for partner in self.backup.partners]

    def volume_to(self, partner: BackupPartner) -> float:
        """TB this site sends to ``partner``."""
        return self.backup.volume_tb if partner.volume_tb is None else partner.volume_tb


class Bounds(Strict):
    """A lon/lat box; used for the national territory."""

    min_lat: float
    max_lat: float
    min_lon: float
    max_lon: float

    def contains(self, point: Coordinates) -> bool:
        return self.min_lat <= point.lat <= self.max_lat and self.min_lon <= point.lon <= self.max_lon


class RecoveryTarget(Strict):
    """What a site loss may cost a tenant of one tier: data (RPO) and time until its apps answer (RTO)."""

    rpo_minutes: int = Field(ge=1, description="Most minutes of data a site loss may lose (backup age).")
    rto_minutes: int = Field(ge=1, description="Most minutes from starting a restore until the apps answer.")


class Policy(Strict):
    """National rules the backup topology must keep."""

    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")] = "ID"
    territory: Bounds
    mutual_pairs: list[tuple[str, str]] = Field(
        default_factory=list, description="Pairs of sites that must back each other up."
    )
    recovery: dict[Tier, RecoveryTarget] = Field(
        default_factory=dict, description="Recovery targets per tenant tier (the restore drill measures them)."
    )


class SiteModel(Strict):
    schema_version: int = Field(ge=1, le=1)
    policy: Policy
    sites: list[Site] = Field(min_length=1)

    def site(self, site_id: str) -> Site:
        """The site with this id; raises ``KeyError`` naming the known ids otherwise."""
        for site in self.sites:
            if site.id == site_id:
                return site
        raise KeyError(f"unknown site {site_id!r}; known sites: {', '.join(self.ids)}")

    @property
    def ids(self) -> list[str]:
        return [site.id for site in self.sites]
