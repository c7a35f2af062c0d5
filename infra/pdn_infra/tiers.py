"""National tenant tiers: resource envelope and backup cadence per tier.

The tiers themselves are the national scale of :mod:`pdn.sites.vocabulary`; what each tier gets
is national policy, not a site fact, so it lives here rather than in the site model, the same
for every stack.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from pdn.sites.vocabulary import Tier


class TierProfile(BaseModel):
    """What a tenant of one tier gets: quota, container limits and backup cadence."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    quota_cpu: str = Field(description="requests.cpu and limits.cpu of the namespace quota")
    quota_memory: str
    quota_pods: int = Field(ge=1)
    quota_pvcs: int = Field(ge=0)
    quota_storage: str
    default_cpu: str = "500m"
    default_memory: str = "512Mi"
    default_request_cpu: str = "100m"
    default_request_memory: str = "128Mi"
    max_cpu: str = "8"
    max_memory: str = "32Gi"
    backup_cron: str = Field(description="Velero schedule (cron, UTC)")
    backup_ttl: str = Field(pattern=r"^\d+h0m0s$", description="Velero backup TTL")


PROFILES: dict[Tier, TierProfile] = {
    Tier.VITAL: TierProfile(
        quota_cpu="64",
        quota_memory="256Gi",
        quota_pods=500,
        quota_pvcs=100,
        quota_storage="10Ti",
        max_cpu="16",
        max_memory="64Gi",
        backup_cron="0 * * * *",
        backup_ttl="720h0m0s",
    ),
    Tier.HIGH: TierProfile(
        quota_cpu="32",
        quota_memory="128Gi",
        quota_pods=250,
        quota_pvcs=50,
        quota_storage="5Ti",
        backup_cron="15 1 * * *",
        backup_ttl="720h0m0s",
    ),
    Tier.MEDIUM: TierProfile(
        quota_cpu="16",
        quota_memory="64Gi",
        quota_pods=150,
        quota_pvcs=30,
        quota_storage="2Ti",
        backup_cron="30 2 * * *",
        backup_ttl="336h0m0s",
    ),
    Tier.LOW: TierProfile(
        quota_cpu="8",
        quota_memory="32Gi",
        quota_pods=100,
        quota_pvcs=20,
        quota_storage="1Ti",
        max_memory="16Gi",
        backup_cron="45 3 * * *",
        backup_ttl="168h0m0s",
    ),
}
