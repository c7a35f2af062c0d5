"""Start-up order for real: a Velero server and a schedule start together, and no backup fails.

The fresh-machine case of cikarang: its Velero server is stopped, its ``to-batam`` location loses
its validated phase (as on a new cluster, where the stack has just created it), a Schedule shaped
like the stack's (``skipImmediately: true``) is applied, and the server starts once the schedule is
already due. Velero must not back up before the location is validated (that was a
``FailedValidation`` backup at every start); the server start takes exactly one first backup once
the location is Available, and it completes. A location that cannot become Available fails the
start with one line naming the site, schedule, location and its last phase.

The schedules, location and namespace made here are deleted again; the completed Backups stay
(they are locked in batam's bucket, and Velero would sync them back).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from pdn import kube as kubeapi
from pdn.backup import firstbackup, kube, seed, velero
from pdn.errors import PdnError
from pdn.kube import KubeError
from pdn.lab import endpoints, layout
from pdn.wait import wait_until

SITE, PARTNER = "cikarang", "batam"
LOCATION = f"to-{PARTNER}"
FIELD_MANAGER = "pulumi-kubernetes-first-backup-test"  # applied like the stack applies its Schedules
FAILED = {"Failed", "FailedValidation", "PartiallyFailed"}
DONE = FAILED | {"Completed"}


def _schedule(name: str, namespace: str, location: str, cron: str) -> dict[str, Any]:
    """A Schedule as the stack makes it (pdn_infra.backup), for one test namespace."""
    return {
        "apiVersion": "velero.io/v1",
        "kind": "Schedule",
        "metadata": {
            "name": name,
            "namespace": velero.NAMESPACE,
            "labels": {"pdn.go.id/site": SITE, "pdn.go.id/managed-by": "pulumi", "pdn.go.id/tier": "vital"},
        },
        "spec": {
            "schedule": cron,
            "skipImmediately": True,
            "useOwnerReferencesInBackup": False,
            "template": {
                "includedNamespaces": [namespace],
                "storageLocation": location,
                "ttl": "720h0m0s",
                "snapshotVolumes": False,
                "defaultVolumesToFsBackup": True,
                "metadata": {"labels": {"pdn.go.id/site": SITE, "pdn.go.id/tier": "vital"}},
            },
        },
    }


def _backups_of(schedule: str) -> list[dict[str, Any]]:
    return kube.list_items(SITE, kube.velero_path("backups"), f"{firstbackup.SCHEDULE_LABEL}={schedule}")


def _phase(backup: dict[str, Any]) -> str:
    return str((backup.get("status") or {}).get("phase") or "New")


@pytest.fixture
def test_namespace(backup_lab: Any) -> Iterator[str]:
    """A namespace with a few objects to back up (no pods: the lab's kwok sites have no node agent)."""
    name = f"first-{datetime.now(UTC):%m%d%H%M%S}"
    namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {"pdn.go.id/site": SITE}},
    }
    objects = [obj for obj in seed.workloads(name, 20, "first") if obj["kind"] in {"ConfigMap", "Secret"}]
    seed.apply(SITE, [namespace])
    seed.apply(SITE, objects)
    yield name
    kube.delete_namespace(SITE, name)


def test_server_and_schedule_started_together_take_one_first_backup_and_none_fails(test_namespace: str) -> None:
    name = f"pdn-{test_namespace}"
    location_path = kube.velero_path("backupstoragelocations", LOCATION)
    assert kube.get(SITE, location_path) is not None, "the stack's location"
    velero.stop_server(SITE)
    try:
        # a fresh cluster: the location was never validated (the server writes its phase again)
        kubeapi.site(SITE).merge_patch(location_path, {"status": None})
        assert not (kube.get(SITE, location_path) or {}).get("status")
        # every minute, so that by the time the server starts the schedule is due (a cron time has
        # passed since its creation): exactly the start where Velero backed up too early
        kubeapi.site(SITE).apply(_schedule(name, test_namespace, LOCATION, "* * * * *"), field_manager=FIELD_MANAGER)
        applied = kube.velero_get(SITE, "schedules", name) or {}
        created = datetime.fromisoformat(applied["metadata"]["creationTimestamp"])
        wait_until(
            "a cron time of the new schedule to pass", lambda: datetime.now(UTC),
            lambda now: now.replace(second=0, microsecond=0) > created, timeout=65, interval=0.5,
        )  # fmt: skip
        started = time.monotonic()
        velero.ensure_server(SITE, say=print)
        start_seconds = time.monotonic() - started
        # the start took the first backup; a second look takes none
        assert firstbackup.take_first_backups(SITE) == []
        first = [
            b
            for b in _backups_of(name)
            if b["metadata"].get("annotations", {}).get(firstbackup.FIRST_BACKUP_ANNOTATION)
        ]
        assert len(first) == 1, [b["metadata"]["name"] for b in _backups_of(name)]
        backup = first[0]
        assert backup["spec"]["includedNamespaces"] == [test_namespace]
        assert backup["spec"]["storageLocation"] == LOCATION
        finished = wait_until(
            f"first backup {backup['metadata']['name']} to finish",
            lambda: kube.velero_get(SITE, "backups", backup["metadata"]["name"]) or {},
            lambda found: _phase(found) in DONE, timeout=180, interval=0.5, describe=_phase,
            hint=f"see {velero.server_spec(SITE).log_file}",
        )  # fmt: skip
        total_seconds = time.monotonic() - started
        assert _phase(finished) == "Completed", finished.get("status")
        assert finished["status"].get("progress", {}).get("itemsBackedUp", 0) >= 1
        everything = _backups_of(name)
        phases = {b["metadata"]["name"]: _phase(b) for b in everything}
        print(f"server start + first backup: {start_seconds:.1f} s, Completed after {total_seconds:.1f} s; {phases}")
        assert not [n for n, phase in phases.items() if phase in FAILED], phases
        # Velero did not fire at the start: any backup of its own came at a later cron time, after ours
        ours = finished["metadata"]["creationTimestamp"]
        assert all(b["metadata"]["creationTimestamp"] >= ours for b in everything), phases
        schedule = kube.velero_get(SITE, "schedules", name) or {}
        assert schedule["status"].get("lastSkipped"), "Velero skipped the due run at the start"
        # Velero has reset skipImmediately and owns the field now: an update that still sets it
        # conflicts, one that leaves it out (the stack's ignoreChanges under server-side apply) does not
        assert schedule["spec"].get("skipImmediately") is False
        changed = _schedule(name, test_namespace, LOCATION, "* * * * *")
        changed["spec"]["template"]["ttl"] = "719h0m0s"
        with pytest.raises(KubeError) as conflict:
            kubeapi.site(SITE).apply(changed, field_manager=FIELD_MANAGER)
        assert conflict.value.status == 409 and "skipImmediately" in str(conflict.value)
        del changed["spec"]["skipImmediately"]
        kubeapi.site(SITE).apply(changed, field_manager=FIELD_MANAGER)
        updated = kube.velero_get(SITE, "schedules", name) or {}
        assert updated["spec"]["template"]["ttl"] == "719h0m0s" and updated["spec"]["skipImmediately"] is False
    finally:
        kube.velero_delete(SITE, "schedules", name)
        velero.ensure_server(SITE)


def test_a_tenant_added_to_a_schedule_that_backed_up_gets_its_own_first_backup(test_namespace: str) -> None:
    """The stack onboards a tenant into a Schedule with backups: it is backed up now, not at the next cron time."""
    name = f"pdn-added-{test_namespace}"
    added = f"{test_namespace}-added"
    seed.apply(SITE, [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": added}}])
    kubeapi.site(SITE).apply(_schedule(name, test_namespace, LOCATION, "0 0 1 1 *"), field_manager=FIELD_MANAGER)
    try:
        velero.ensure_server(SITE)
        (before,) = _backups_of(name)
        assert before["spec"]["includedNamespaces"] == [test_namespace]
        # the stack adds a tenant: only that one is owed a backup, and one Backup of the whole template pays it
        grown = _schedule(name, test_namespace, LOCATION, "0 0 1 1 *")
        grown["spec"]["template"]["includedNamespaces"] = [test_namespace, added]
        del grown["spec"]["skipImmediately"]  # Velero owns it now (as the stack's ignoreChanges leaves it)
        kubeapi.site(SITE).apply(grown, field_manager=FIELD_MANAGER)
        schedule = kube.velero_get(SITE, "schedules", name) or {}
        assert firstbackup.uncovered(schedule, kube.velero_list(SITE, "backups")) == [added]
        time.sleep(1.1)  # the new Backup's name is the schedule's and the UTC second
        (taken,) = firstbackup.take_first_backups(SITE)
        found = kube.velero_get(SITE, "backups", taken) or {}
        assert sorted(found["spec"]["includedNamespaces"]) == sorted([test_namespace, added])
        assert firstbackup.take_first_backups(SITE) == [], "paid: a second look takes none"
    finally:
        kube.velero_delete(SITE, "schedules", name)
        kube.delete_namespace(SITE, added)


def test_a_location_that_stays_unavailable_fails_the_start_in_one_line(test_namespace: str) -> None:
    """A location on a store that does not answer: the start says so, and no backup is created."""
    name, location = f"pdn-bad-{test_namespace}", f"pdn-bad-{test_namespace}"
    port = layout.port_base() + len(layout.site_ids()) * layout.PORTS_PER_SITE + 19  # outside every site's block
    bsl = {
        "apiVersion": "velero.io/v1",
        "kind": "BackupStorageLocation",
        "metadata": {"name": location, "namespace": velero.NAMESPACE, "labels": {"pdn.go.id/site": SITE}},
        "spec": {
            "provider": "velero.io/aws",
            "objectStorage": {"bucket": "pdn-nowhere", "prefix": "velero"},
            "config": {
                "region": endpoints.s3_region(PARTNER),
                "s3ForcePathStyle": "true",
                "s3Url": f"http://127.0.0.1:{port}",
            },
            "credential": {"name": f"s3-{PARTNER}", "key": "cloud"},
            "accessMode": "ReadWrite",
        },
    }
    kube.velero_create(SITE, "backupstoragelocations", bsl)
    kube.velero_create(SITE, "schedules", _schedule(name, test_namespace, location, "0 * * * *"))
    try:
        with pytest.raises(PdnError) as failed:
            firstbackup.take_first_backups(SITE, timeout=25)
        message = str(failed.value)
        print(message)
        assert "\n" not in message
        assert SITE in message and name in message and location in message and "Unavailable" in message
        assert _backups_of(name) == []
        assert velero.server_spec(SITE).log_file.name in (failed.value.hint or "")
    finally:
        kube.velero_delete(SITE, "schedules", name)
        kube.velero_delete(SITE, "backupstoragelocations", location)
