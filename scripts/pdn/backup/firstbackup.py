"""The first backup of every Velero Schedule, taken once the schedule's storage location is Available.

Velero checks a Backup's location when it processes the Backup: a location that has not been
validated yet (a server that just started) or cannot reach its bucket fails the Backup at once
(``FailedValidation``). The stacks' Schedules therefore carry ``skipImmediately: true`` and fire at
their cron times only; their first backup is taken here instead, after the server started: for
each Schedule that never produced a Backup, wait until its location is ``Available``, then create
one Backup from the Schedule's template, as ``velero backup create --from-schedule`` does.

Velero resets ``skipImmediately`` to false at the Schedule's first reconcile (recording
``status.lastSkipped``), so it protects the first start only; a server started again after a
missed cron time backs up at once, which passes when the location's stored phase is Available.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from pdn.backup import kube, velero
from pdn.errors import PdnError
from pdn.kube import KubeError
from pdn.wait import WaitTimeout, wait_until

SCHEDULE_LABEL = "velero.io/schedule-name"
FIRST_BACKUP_ANNOTATION = "pdn.go.id/first-backup"
LOCATION_TIMEOUT = 60.0  # the lab's servers validate every 10 s; the first validation runs at start

Say = Callable[[str], None]


def backup_name(schedule: str, now: datetime) -> str:
    """``<schedule>-<UTC yyyymmddhhmmss>``: the name Velero gives a scheduled backup."""
    return f"{schedule}-{now.astimezone(UTC):%Y%m%d%H%M%S}"


def backup_manifest(schedule: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """The Backup Velero would create from ``schedule`` at ``now``, marked as the first backup.

    Like Velero: the template's labels (the Schedule's own when the template has none) plus
    ``velero.io/schedule-name``, the Schedule's annotations, the template as spec, and an owner
    reference when the Schedule asks for one.
    """
    meta = schedule["metadata"]
    spec = schedule.get("spec") or {}
    template = dict(spec.get("template") or {})
    template_labels = (template.get("metadata") or {}).get("labels")
    labels = dict(template_labels if template_labels is not None else meta.get("labels") or {})
    labels[SCHEDULE_LABEL] = meta["name"]
    annotations = {**(meta.get("annotations") or {}), FIRST_BACKUP_ANNOTATION: "true"}
    metadata: dict[str, Any] = {
        "name": backup_name(meta["name"], now),
        "namespace": meta.get("namespace", velero.NAMESPACE),
        "labels": labels,
        "annotations": annotations,
    }
    if spec.get("useOwnerReferencesInBackup") is True and meta.get("uid"):
        metadata["ownerReferences"] = [
            {"apiVersion": "velero.io/v1", "kind": "Schedule", "name": meta["name"], "uid": meta["uid"],
             "controller": True}
        ]  # fmt: skip
    return {"apiVersion": "velero.io/v1", "kind": "Backup", "metadata": metadata, "spec": template}


def never_backed_up(schedules: Iterable[Mapping[str, Any]], backups: Iterable[Mapping[str, Any]]) -> list[str]:
    """Names of the unpaused Schedules with no ``status.lastBackup`` and no Backup of theirs.

    A Backup is the schedule's when it carries ``velero.io/schedule-name=<schedule>`` and went to the
    schedule's location: a partner's backups synced in through a read-only location carry the
    partner's schedule names but that location's name.
    """
    produced: set[tuple[str, str]] = set()
    for backup in backups:
        label = ((backup.get("metadata") or {}).get("labels") or {}).get(SCHEDULE_LABEL)
        if label:
            produced.add((str(label), str((backup.get("spec") or {}).get("storageLocation") or "")))
    names = []
    for schedule in schedules:
        name = schedule["metadata"]["name"]
        spec = schedule.get("spec") or {}
        if spec.get("paused") or (schedule.get("status") or {}).get("lastBackup"):
            continue
        location = str((spec.get("template") or {}).get("storageLocation") or "")
        if not any(label == name and (not location or not went or went == location) for label, went in produced):
            names.append(name)
    return sorted(names)


def location_of(schedule: Mapping[str, Any], locations: Iterable[Mapping[str, Any]]) -> str | None:
    """The location the schedule's backups go to: its template's, else the one marked default."""
    named = ((schedule.get("spec") or {}).get("template") or {}).get("storageLocation")
    if named:
        return str(named)
    defaults = [loc["metadata"]["name"] for loc in locations if (loc.get("spec") or {}).get("default")]
    return defaults[0] if defaults else None


def _location_state(site_id: str, name: str) -> tuple[str, str]:
    if not velero.is_running(site_id):
        raise PdnError(
            f"{site_id}: velero server is not running, so location {name} cannot become Available",
            hint=f"see {velero.server_spec(site_id).log_file}",
        )
    found = kube.velero_get(site_id, "backupstoragelocations", name) or {}
    status = found.get("status") or {}
    return str(status.get("phase") or ("not validated yet" if found else "missing")), str(status.get("message") or "")


def wait_available(site_id: str, schedule: str, location: str, timeout: float) -> None:
    """Wait until ``location`` is Available; one line naming site, schedule, location and last state if not."""

    def describe(state: tuple[str, str]) -> str:
        return f"phase {state[0]}" + (f": {state[1]}" if state[1] else "")

    wait_until(
        f"{site_id}'s Velero location {location} to be Available for the first backup of schedule {schedule}",
        lambda: _location_state(site_id, location), lambda state: state[0] == "Available", timeout=timeout,
        interval=0.5, describe=describe, hint=f"see {velero.server_spec(site_id).log_file}",
    )  # fmt: skip


def take_first_backups(site_id: str, say: Say | None = None, timeout: float = LOCATION_TIMEOUT) -> list[str]:
    """Back up every Schedule of the site that never produced a Backup; returns the Backups created.

    Idempotent: a created Backup carries the schedule's label, so a second call creates nothing.
    Without such Schedules nothing is waited for. Schedules whose location is Available get their
    backup even when another location stays Unavailable; that one then raises (after ``timeout``).
    """
    report: Say = say or (lambda _message: None)
    schedules = {item["metadata"]["name"]: item for item in kube.velero_list(site_id, "schedules")}
    if not schedules:
        return []
    pending = never_backed_up(schedules.values(), kube.velero_list(site_id, "backups"))
    if not pending:
        return []
    locations = kube.velero_list(site_id, "backupstoragelocations")
    deadline = time.monotonic() + timeout
    created: list[str] = []
    failures: list[str] = []
    for name in pending:
        schedule = schedules[name]
        location = location_of(schedule, locations)
        if location is None:
            failures.append(f"schedule {name} names no storage location and none is the default")
            continue
        try:
            wait_available(site_id, name, location, max(0.0, deadline - time.monotonic()))
        except WaitTimeout as error:
            failures.append(f"schedule {name}: location {location} is not Available ({error.last})")
            continue
        manifest = backup_manifest(schedule, datetime.now(UTC))
        try:
            kube.velero_create(site_id, "backups", manifest)
        except KubeError as error:
            if error.status == 409:  # same schedule, same second: it exists already
                continue
            raise PdnError(f"{site_id}: creating the first backup of schedule {name} failed: {error}") from None
        created.append(manifest["metadata"]["name"])
        report(f"{site_id}: first backup {manifest['metadata']['name']} ({location} Available)")
    if failures:
        raise PdnError(
            f"{site_id}: no first backup for {'; '.join(failures)} after {timeout:g} s"
            + (f" (taken: {', '.join(created)})" if created else ""),
            hint=f"see {velero.server_spec(site_id).log_file}",
        )
    return created
