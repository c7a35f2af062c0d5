"""A schedule's first backup as data: the Backup Velero would make from the schedule, and which schedules need one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from pdn.backup import firstbackup

NOW = datetime(2026, 12, 1, 18, 4, 5, tzinfo=UTC)


def _schedule(name: str = "vital-to-batam", **spec: Any) -> dict[str, Any]:
    """A Schedule as the stack makes it (and as Velero shows it after its first reconcile)."""
    return {
        "apiVersion": "velero.io/v1",
        "kind": "Schedule",
        "metadata": {
            "name": name,
            "namespace": "velero",
            "uid": "u-1",
            "labels": {"pdn.go.id/site": "cikarang", "pdn.go.id/tier": "vital", "pdn.go.id/managed-by": "pulumi"},
        },
        "spec": {
            "schedule": "0 * * * *",
            "skipImmediately": False,
            "useOwnerReferencesInBackup": False,
            "template": {
                "includedNamespaces": ["tenant-a", "tenant-b"],
                "storageLocation": "to-batam",
                "ttl": "720h0m0s",
                "snapshotVolumes": False,
                "defaultVolumesToFsBackup": True,
                "metadata": {"labels": {"pdn.go.id/site": "cikarang", "pdn.go.id/tier": "vital"}},
            },
            **spec,
        },
        "status": {"phase": "Enabled", "lastSkipped": "2026-12-01T18:04:00Z"},
    }


def test_backup_name_is_velero_s_timestamped_name_in_utc() -> None:
    assert firstbackup.backup_name("vital-to-batam", NOW) == "vital-to-batam-20261201180405"
    wib = NOW.astimezone(timezone(timedelta(hours=7)))  # the same instant in Jakarta time
    assert firstbackup.backup_name("vital-to-batam", wib) == "vital-to-batam-20261201180405"


def test_first_backup_is_the_schedule_s_template_with_its_labels() -> None:
    schedule = _schedule()
    backup = firstbackup.backup_manifest(schedule, NOW)
    assert backup["apiVersion"] == "velero.io/v1" and backup["kind"] == "Backup"
    meta = backup["metadata"]
    assert meta["name"] == "vital-to-batam-20261201180405" and meta["namespace"] == "velero"
    # the template's labels (not the schedule's own pulumi label), plus the schedule's name
    assert meta["labels"] == {
        "pdn.go.id/site": "cikarang",
        "pdn.go.id/tier": "vital",
        "velero.io/schedule-name": "vital-to-batam",
    }
    assert meta["annotations"] == {"pdn.go.id/first-backup": "true"}
    assert backup["spec"] == schedule["spec"]["template"]
    assert "ownerReferences" not in meta
    # building it changed nothing in the schedule
    assert schedule == _schedule()


def test_without_template_labels_the_schedule_s_labels_and_annotations_go_over() -> None:
    schedule = _schedule(useOwnerReferencesInBackup=True)
    del schedule["spec"]["template"]["metadata"]
    schedule["metadata"]["annotations"] = {"note": "kept"}
    meta = firstbackup.backup_manifest(schedule, NOW)["metadata"]
    assert meta["labels"] == {**schedule["metadata"]["labels"], "velero.io/schedule-name": "vital-to-batam"}
    assert meta["annotations"] == {"note": "kept", "pdn.go.id/first-backup": "true"}
    (owner,) = meta["ownerReferences"]
    assert owner["kind"] == "Schedule" and owner["name"] == "vital-to-batam" and owner["uid"] == "u-1"


def _backup(
    name: str, schedule: str | None, location: str, namespaces: list[str], phase: str = "Completed"
) -> dict[str, Any]:
    labels = {"velero.io/schedule-name": schedule} if schedule else {"pdn.go.id/site": "cikarang"}
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {"storageLocation": location, "includedNamespaces": namespaces},
        "status": {"phase": phase},
    }


def test_only_schedules_with_a_namespace_no_backup_of_theirs_holds_need_one() -> None:
    fresh = _schedule("vital-to-batam")
    ran = _schedule("vital-to-ikn")  # fired at a cron time: its backup holds both namespaces
    ran["status"]["lastBackup"] = "2026-12-01T18:00:00Z"
    synced = _schedule("high-to-batam")  # its backups came back from the bucket (sync), no lastBackup
    paused = _schedule("low-to-batam", paused=True)
    backups = [
        _backup("high-to-batam-20261130011500", "high-to-batam", "to-batam", ["tenant-a", "tenant-b"]),
        _backup("vital-to-ikn-20261201180000", "vital-to-ikn", "to-ikn", ["tenant-a", "tenant-b"]),
        # a partner's backup of a schedule with the same name, synced in through a read-only location
        _backup("vital-to-batam-20261130010000", "vital-to-batam", "from-ikn", ["tenant-a", "tenant-b"]),
        # a drill's own backup holds the namespaces but is no backup of the schedule
        _backup("drill-cikarang-1201180000", None, "to-batam", ["tenant-a", "tenant-b"]),
        {"metadata": {"name": "no-labels"}},
    ]
    ran["spec"]["template"]["storageLocation"] = "to-ikn"
    pending = firstbackup.needing_first_backup([fresh, ran, synced, paused], backups)
    assert pending == {"vital-to-batam": ["tenant-a", "tenant-b"]}
    assert firstbackup.needing_first_backup([], backups) == {}


def test_a_tenant_added_to_a_schedule_that_backed_up_before_needs_its_first_backup() -> None:
    """The stack onboarded tenant-c into vital-to-batam after its backups: it alone had none."""
    schedule = _schedule("vital-to-batam")
    schedule["status"]["lastBackup"] = "2026-12-01T18:00:00Z"
    schedule["spec"]["template"]["includedNamespaces"] = ["tenant-a", "tenant-b", "tenant-c"]
    earlier = [_backup("vital-to-batam-20261201180000", "vital-to-batam", "to-batam", ["tenant-a", "tenant-b"])]
    assert firstbackup.needing_first_backup([schedule], earlier) == {"vital-to-batam": ["tenant-c"]}
    # a backup that failed outright holds nothing; one still running or partly failed does
    for phase, pending in (("Failed", ["tenant-c"]), ("FailedValidation", ["tenant-c"]), ("InProgress", []),
                           ("New", []), ("PartiallyFailed", [])):  # fmt: skip
        later = _backup("vital-to-batam-20261201183000", "vital-to-batam", "to-batam", ["tenant-c"], phase)
        assert firstbackup.uncovered(schedule, [*earlier, later]) == pending, phase
    # a backup of every namespace holds every tenant
    everything = _backup("vital-to-batam-20261201190000", "vital-to-batam", "to-batam", ["*"])
    assert firstbackup.uncovered(schedule, [everything]) == []


def test_a_taken_first_backup_makes_the_next_call_create_nothing() -> None:
    schedules = [_schedule("vital-to-batam"), _schedule("high-to-batam")]
    pending = firstbackup.needing_first_backup(schedules, [])
    assert list(pending) == ["high-to-batam", "vital-to-batam"]
    taken = [firstbackup.backup_manifest(s, NOW) for s in schedules if s["metadata"]["name"] in pending]
    assert firstbackup.needing_first_backup(schedules, taken) == {}


def test_location_is_the_template_s_or_the_default_one() -> None:
    locations: list[dict[str, Any]] = [
        {"metadata": {"name": "to-ikn"}, "spec": {}},
        {"metadata": {"name": "to-batam"}, "spec": {"default": True}},
    ]
    assert firstbackup.location_of(_schedule(), locations) == "to-batam"
    unnamed = _schedule()
    del unnamed["spec"]["template"]["storageLocation"]
    assert firstbackup.location_of(unnamed, locations) == "to-batam"
    assert firstbackup.location_of(unnamed, locations[:1]) is None
