"""RPO and RTO against the site model's recovery targets: which backup counts, how old it is, which
target applies (fake Backups and namespaces; the targets come from the real stacks/sites.yaml)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pdn.backup import recovery
from pdn.sites import load_sites
from pdn.sites.vocabulary import Tier

NOW = datetime(2026, 12, 1, 18, 0, 0, tzinfo=UTC)
TIERS = {"tenant-vital": "vital", "tenant-high": "high", "tenant-low": "low", "drill-x": None}


def _backup(
    name: str,
    minutes_ago: float,
    phase: str = "Completed",
    included: list[str] | None = None,
    excluded: list[str] | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if included is not None:
        spec["includedNamespaces"] = included
    if excluded is not None:
        spec["excludedNamespaces"] = excluded
    started = (NOW - timedelta(minutes=minutes_ago)).isoformat().replace("+00:00", "Z")
    return {"metadata": {"name": name, "namespace": "velero"}, "spec": spec,
            "status": {"phase": phase, "startTimestamp": started}}  # fmt: skip


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The source site's Backups (append to it) and namespaces with tier labels from TIERS."""
    backups: list[dict[str, Any]] = []

    def velero_list(site_id: str, plural: str) -> list[dict[str, Any]]:
        assert (site_id, plural) == ("cikarang", "backups")
        return backups

    def namespace(site_id: str, name: str) -> dict[str, Any] | None:
        assert site_id == "cikarang"
        if name not in TIERS:
            return None
        tier = TIERS[name]
        labels = {"pdn.go.id/tenant": name} | ({recovery.TIER_LABEL: tier} if tier else {})
        return {"metadata": {"name": name, "labels": labels}}

    monkeypatch.setattr("pdn.backup.recovery.kube.velero_list", velero_list)
    monkeypatch.setattr("pdn.backup.recovery.kube.namespace", namespace)
    return backups


def _minutes(tier: Tier, what: str) -> float:
    return 60.0 * float(getattr(load_sites().policy.recovery[tier], what))


def test_targets_come_from_the_site_model() -> None:
    recovery_policy = load_sites().policy.recovery
    assert recovery_policy[Tier.VITAL].rpo_minutes == 75 and recovery_policy[Tier.VITAL].rto_minutes == 60
    assert set(recovery_policy) == set(Tier)


def test_newest_completed_covering_backup_is_chosen_and_failed_ones_are_ignored(
    cluster: list[dict[str, Any]],
) -> None:
    cluster += [
        _backup("old", 300, included=["tenant-vital"]),
        _backup("newer", 40, included=["tenant-vital", "tenant-high"]),
        _backup("failed-newest", 5, phase="Failed", included=["tenant-vital"]),
        _backup("partial", 3, phase="PartiallyFailed", included=["tenant-vital"]),
        _backup("running", 1, phase="InProgress", included=["tenant-vital"]),
        _backup("other-tenant", 2, included=["tenant-low"]),
    ]
    (found,) = recovery.assess_rpo("cikarang", {"tenant-vital": "r1-tenant-vital"}, NOW).namespaces
    assert found.namespace == "tenant-vital" and found.tier == "vital"
    assert found.backup == "newer"
    assert found.age_seconds == pytest.approx(40 * 60)
    assert found.target_seconds == _minutes(Tier.VITAL, "rpo_minutes") == 75 * 60
    assert not found.missed


def test_age_is_measured_against_now(cluster: list[dict[str, Any]]) -> None:
    cluster.append(_backup("b", 10, included=["tenant-vital"]))
    later = NOW + timedelta(hours=2)
    (found,) = recovery.assess_rpo("cikarang", {"tenant-vital": "x"}, later).namespaces
    assert found.age_seconds == pytest.approx(130 * 60)
    assert found.missed, "130 min > the vital tier's 75 min"


def test_wildcard_and_empty_includes_cover_and_excludes_do_not(cluster: list[dict[str, Any]]) -> None:
    cluster += [
        _backup("star", 50, included=["*"]),
        _backup("all-by-default", 30),
        _backup("star-without-vital", 10, included=["*"], excluded=["tenant-vital"]),
    ]
    rpo = recovery.assess_rpo("cikarang", {"tenant-vital": "a", "tenant-high": "b"}, NOW)
    by_name = {ns.namespace: ns for ns in rpo.namespaces}
    assert by_name["tenant-vital"].backup == "all-by-default"
    assert by_name["tenant-high"].backup == "star-without-vital"


def test_backup_older_than_the_target_misses_it(cluster: list[dict[str, Any]]) -> None:
    cluster.append(_backup("b", 76, included=["tenant-vital", "tenant-high"]))
    rpo = recovery.assess_rpo("cikarang", {"tenant-vital": "a", "tenant-high": "b"}, NOW)
    by_name = {ns.namespace: ns for ns in rpo.namespaces}
    assert by_name["tenant-vital"].missed, "76 min > 75 min"
    assert not by_name["tenant-high"].missed, "76 min < 1500 min"
    assert [ns.namespace for ns in rpo.missed] == ["tenant-vital"]


def test_no_backup_misses_a_tiered_namespace_but_not_an_untiered_one(cluster: list[dict[str, Any]]) -> None:
    cluster.append(_backup("failed", 1, phase="Failed"))
    rpo = recovery.assess_rpo("cikarang", {"tenant-low": "a", "drill-x": "b"}, NOW)
    by_name = {ns.namespace: ns for ns in rpo.namespaces}
    low, drill = by_name["tenant-low"], by_name["drill-x"]
    assert low.backup is None and low.age_seconds is None and low.missed
    assert low.not_completed == "failed Failed", "the newest backup that did not complete is named"
    assert low.target_seconds == _minutes(Tier.LOW, "rpo_minutes")
    assert drill.tier is None and drill.target_seconds is None and not drill.missed
    assert [ns.namespace for ns in rpo.missed] == ["tenant-low"]
    assert rpo.worst is not None and rpo.worst.age_seconds is None


def test_worst_is_the_oldest_newest_backup(cluster: list[dict[str, Any]]) -> None:
    cluster += [_backup("v", 20, included=["tenant-vital"]), _backup("h", 600, included=["tenant-high"])]
    rpo = recovery.assess_rpo("cikarang", {"tenant-vital": "a", "tenant-high": "b"}, NOW)
    assert rpo.worst is not None and rpo.worst.namespace == "tenant-high" and rpo.worst.backup == "h"
    assert recovery.RpoAssessment().worst is None


def test_backup_without_a_start_time_is_not_counted(cluster: list[dict[str, Any]]) -> None:
    unstarted = _backup("unstarted", 0, included=["tenant-vital"])
    del unstarted["status"]["startTimestamp"]
    cluster.append(unstarted)
    (found,) = recovery.assess_rpo("cikarang", {"tenant-vital": "a"}, NOW).namespaces
    assert found.backup is None and found.missed
    cluster.append(_backup("queued", 0, phase="New", included=["tenant-vital"]))
    (found,) = recovery.assess_rpo("cikarang", {"tenant-vital": "a"}, NOW).namespaces
    assert found.not_completed == "queued New"


def test_rto_target_is_the_strictest_tier(cluster: list[dict[str, Any]]) -> None:
    assert recovery.rto_target("cikarang", {"tenant-low": "a", "tenant-high": "b"}) == _minutes(
        Tier.HIGH, "rto_minutes"
    )
    every = {"tenant-low": "a", "tenant-vital": "b", "tenant-high": "c", "drill-x": "d"}
    assert recovery.rto_target("cikarang", every) == 60 * 60
    assert recovery.rto_target("cikarang", {"drill-x": "d"}) is None
    assert recovery.rto_target("cikarang", {}) is None
