"""RPO and RTO against the site model's recovery targets (``policy.recovery`` in stacks/sites.yaml).

- **RPO** at drill time: for every drilled namespace, the age of the newest *completed* backup that
  covers it (any location, taken before the drill's own backup), i.e. how much data a loss of the
  site at that moment would cost. The target is the RPO of the namespace's tier (its
  ``pdn.go.id/tier`` label); a namespace without a tier (the drill's own) has no target.
- **RTO**: from the start of the restore until the last restored app answers its smoke check,
  against the lowest RTO of the drilled namespaces' tiers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pdn.backup import kube
from pdn.kube import parse_time as parse_kube_time
from pdn.sites import load_sites
from pdn.sites.vocabulary import Tier

TIER_LABEL = "pdn.go.id/tier"


@dataclass
class NamespaceRpo:
    namespace: str
    tier: str | None
    backup: str | None  # newest completed backup covering it
    age_seconds: float | None
    target_seconds: float | None
    not_completed: str | None = None  # without a completed one: the newest other backup and its phase

    @property
    def missed(self) -> bool:
        if self.target_seconds is None:
            return False
        return self.age_seconds is None or self.age_seconds > self.target_seconds


@dataclass
class RpoAssessment:
    namespaces: list[NamespaceRpo] = field(default_factory=list)

    @property
    def worst(self) -> NamespaceRpo | None:
        """The namespace with the oldest newest backup (no backup at all counts as oldest)."""
        if not self.namespaces:
            return None
        return max(self.namespaces, key=lambda ns: float("inf") if ns.age_seconds is None else ns.age_seconds)

    @property
    def missed(self) -> list[NamespaceRpo]:
        return [ns for ns in self.namespaces if ns.missed]


def _target(tier: str | None, minutes_of: str) -> float | None:
    if tier is None:
        return None
    try:
        target = load_sites().policy.recovery.get(Tier(tier))
    except ValueError:
        return None
    return None if target is None else 60.0 * getattr(target, minutes_of)


def _tier(site_id: str, namespace: str) -> str | None:
    found = kube.namespace(site_id, namespace) or {}
    value = (found.get("metadata", {}).get("labels") or {}).get(TIER_LABEL)
    return str(value) if value else None


def _covers(backup: Mapping[str, Any], namespace: str) -> bool:
    spec = backup.get("spec") or {}
    included = spec.get("includedNamespaces") or ["*"]
    return (namespace in included or "*" in included) and namespace not in (spec.get("excludedNamespaces") or [])


def _phase(backup: Mapping[str, Any]) -> str:
    return str((backup.get("status") or {}).get("phase") or "New")


def _created(backup: Mapping[str, Any]) -> str:
    """Sort key (RFC 3339 UTC sorts as text): created, else started."""
    meta, status = backup.get("metadata") or {}, backup.get("status") or {}
    return str(meta.get("creationTimestamp") or status.get("startTimestamp") or "")


def _started(backup: Mapping[str, Any]) -> datetime | None:
    value = (backup.get("status") or {}).get("startTimestamp")
    return parse_kube_time(str(value)) if value else None


def assess_rpo(site_id: str, namespaces: Mapping[str, str], now: datetime) -> RpoAssessment:
    """Age of the newest completed backup of each source namespace at ``now`` (see the module doc)."""
    listed = kube.velero_list(site_id, "backups")
    backups = [b for b in listed if _phase(b) == "Completed"]
    assessment = RpoAssessment()
    for namespace in namespaces:
        tier = _tier(site_id, namespace)
        covering = [(started, b) for b in backups if _covers(b, namespace) and (started := _started(b)) is not None]
        newest = max(covering, key=lambda pair: pair[0], default=None)
        others = [b for b in listed if _covers(b, namespace) and _phase(b) != "Completed"]
        other = max(others, key=_created, default=None)
        assessment.namespaces.append(
            NamespaceRpo(
                namespace=namespace,
                tier=tier,
                backup=newest[1]["metadata"]["name"] if newest else None,
                age_seconds=(now - newest[0]).total_seconds() if newest else None,
                target_seconds=_target(tier, "rpo_minutes"),
                not_completed=None if newest or other is None else f"{other['metadata']['name']} {_phase(other)}",
            )
        )
    return assessment


def rto_target(site_id: str, namespaces: Mapping[str, str]) -> float | None:
    """The strictest RTO target of the drilled namespaces' tiers, in seconds (None: no tier)."""
    targets = [t for ns in namespaces if (t := _target(_tier(site_id, ns), "rto_minutes")) is not None]
    return min(targets) if targets else None
