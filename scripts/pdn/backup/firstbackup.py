"""The first backup of every Velero Schedule, taken once the schedule's storage location is Available.

Velero checks a Backup's location when it processes the Backup: a location that has not been
validated yet (a server that just started) or cannot reach its bucket fails the Backup at once
(``FailedValidation``). The stacks' Schedules therefore carry ``skipImmediately: true`` and fire at
their cron times only; their first backup is taken here instead, after the server started: for
each Schedule with a namespace none of its Backups holds (a new Schedule, or a tenant the stack has
just added to one), wait until its location is ``Available``, then create one Backup from the
Schedule's template, as ``velero backup create --from-schedule`` does.

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


#: Backups that hold nothing: a namespace they name is still without a backup.
HELD_NOTHING = frozenset({"Failed", "FailedValidation"})


def _namespaces(spec: Mapping[str, Any]) -> frozenset[str]:
    """The namespaces a Backup or Schedule template names (``*`` or none: every namespace)."""
    included = spec.get("includedNamespaces") or ["*"]
    return frozenset(str(name) for name in included)


def uncovered(schedule: Mapping[str, Any], backups: Iterable[Mapping[str, Any]]) -> list[str]:
    """The namespaces of an unpaused Schedule that none of its Backups holds (all of them if it has none).

    A Backup is the schedule's when it carries ``velero.io/schedule-name=<schedule>`` and went to the
    schedule's location: a partner's backups synced in through a read-only location carry the
    partner's schedule names but that location's name. One that failed outright holds nothing.
    A tenant the stack adds to a schedule that has backed up before is uncovered too: without its
    own first backup it would wait up to a whole backup period (an hour for the vital tier) with none.
    """
    meta = schedule["metadata"]
    spec = schedule.get("spec") or {}
    if spec.get("paused"):
        return []
    template = spec.get("template") or {}
    location = str(template.get("storageLocation") or "")
    wanted = _namespaces(template)
    held: set[str] = set()
    for backup in backups:
        labels = (backup.get("metadata") or {}).get("labels") or {}
        backup_spec = backup.get("spec") or {}
        went = str(backup_spec.get("storageLocation") or "")
        if labels.get(SCHEDULE_LABEL) != meta["name"] or (location and went and went != location):
            continue
        if str((backup.get("status") or {}).get("phase") or "") in HELD_NOTHING:
            continue
        held |= _namespaces(backup_spec)
    return [] if "*" in held else sorted(wanted - held)


def needing_first_backup(
    schedules: Iterable[Mapping[str, Any]], backups: Iterable[Mapping[str, Any]]
) -> dict[str, list[str]]:
    """Schedule name -> its namespaces without a backup, for the Schedules that have some (see ``uncovered``)."""
    listed = list(backups)
    pending = {schedule["metadata"]["name"]: uncovered(schedule, listed) for schedule in schedules}
    return {name: pending[name] for name in sorted(pending) if pending[name]}


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
    """Back up every Schedule of the site with a namespace none of its Backups holds; returns the Backups created.

    Idempotent: a created Backup carries the schedule's label and names every namespace of the
    template, so a second call creates nothing (while it runs too: only a failed one is retaken).
    Without such Schedules nothing is waited for. Schedules whose location is Available get their
    backup even when another location stays Unavailable; that one then raises (after ``timeout``).
    """
    report: Say = say or (lambda _message: None)
    schedules = {item["metadata"]["name"]: item for item in kube.velero_list(site_id, "schedules")}
    if not schedules:
        return []
    pending = needing_first_backup(schedules.values(), kube.velero_list(site_id, "backups"))
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
        report(
            f"{site_id}: first backup {manifest['metadata']['name']} of {', '.join(pending[name])} "
            f"({location} Available)"
        )
    if failures:
        raise PdnError(
            f"{site_id}: no first backup for {'; '.join(failures)} after {timeout:g} s"
            + (f" (taken: {', '.join(created)})" if created else ""),
            hint=f"see {velero.server_spec(site_id).log_file}",
        )
    return created
