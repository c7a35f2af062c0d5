"""Label keys and naming conventions shared with the migration tooling (``pdn migrate``)."""

from __future__ import annotations

from pdn import naming

DOMAIN = "pdn.go.id"
TENANT = f"{DOMAIN}/tenant"
SITE = f"{DOMAIN}/site"
CLASSIFICATION = f"{DOMAIN}/classification"
TIER = f"{DOMAIN}/tier"
# Backup topology labels: who writes into a bucket, and on which site the bucket lives.
BUCKET_OWNER = f"{DOMAIN}/bucket-owner"
TARGET_SITE = f"{DOMAIN}/target-site"
MANAGED_BY = "app.kubernetes.io/managed-by"
REGION = "topology.kubernetes.io/region"
ZONE = "topology.kubernetes.io/zone"

PSA_LEVEL = "restricted"
PSA_MODES = ("enforce", "audit", "warn")


def tenant_namespace(name: str) -> str:
    """``tenant-<slug>``: the namespace of a tenant (:func:`pdn.naming.tenant_namespace`, the one
    rule ``pdn migrate`` also follows)."""
    return naming.tenant_namespace(name)


def bucket_name(source_site: str) -> str:
    """Bucket on a partner's object store that receives ``source_site``'s backups."""
    return naming.backup_bucket(source_site)


def psa_labels() -> dict[str, str]:
    """Pod Security Admission labels pinning every mode to ``restricted``."""
    labels = {f"pod-security.kubernetes.io/{mode}": PSA_LEVEL for mode in PSA_MODES}
    labels.update({f"pod-security.kubernetes.io/{mode}-version": "latest" for mode in PSA_MODES})
    return labels
