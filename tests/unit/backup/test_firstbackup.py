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


def test_only_schedules_that_never_produced_a_backup_need_one() -> None:
    fresh = _schedule("vital-to-batam")
    ran = _schedule("vital-to-ikn")
    ran["status"]["lastBackup"] = "2026-12-01T18:00:00Z"
    synced = _schedule("high-to-batam")  # its backups came back from the bucket (sync), no lastBackup
    paused = _schedule("low-to-batam", paused=True)
    backups: list[dict[str, Any]] = [
        {
            "metadata": {
                "name": "high-to-batam-20261130011500",
                "labels": {"velero.io/schedule-name": "high-to-batam"},
            },
            "spec": {"storageLocation": "to-batam"},
        },
        # a partner's backup of a schedule with the same name, synced in through a read-only location
        {
            "metadata": {
                "name": "vital-to-batam-20261130010000",
                "labels": {"velero.io/schedule-name": "vital-to-batam"},
            },
            "spec": {"storageLocation": "from-ikn"},
        },
        {"metadata": {"name": "drill-cikarang-1201180000", "labels": {"pdn.go.id/site": "cikarang"}}},
        {"metadata": {"name": "no-labels"}},
    ]
    assert firstbackup.never_backed_up([fresh, ran, synced, paused], backups) == ["vital-to-batam"]
    assert firstbackup.never_backed_up([], backups) == []


def test_a_taken_first_backup_makes_the_next_call_create_nothing() -> None:
    schedules = [_schedule("vital-to-batam"), _schedule("high-to-batam")]
    pending = firstbackup.never_backed_up(schedules, [])
    assert pending == ["high-to-batam", "vital-to-batam"]
    taken = [firstbackup.backup_manifest(s, NOW) for s in schedules if s["metadata"]["name"] in pending]
    assert firstbackup.never_backed_up(schedules, taken) == []


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
