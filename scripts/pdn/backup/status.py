"""``pdn backup status``: per site and location, the newest good backup, its age (RPO), bytes, failures.

Read-only: Velero's BackupStorageLocations and Backups from each site's cluster, and the bytes each
``pdn-backup-<site>`` bucket holds on the partner's store. A site or store that does not answer is a
row saying so, not a failure of the whole command.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from pdn.backup import kube, store, velero
from pdn.kube import parse_time as parse_kube_time
from pdn.lab import endpoints

FAILED = {"Failed", "PartiallyFailed", "FailedValidation", "FinalizingPartiallyFailed"}


@dataclass
class LocationStatus:
    site: str
    location: str
    mode: str  # ReadWrite (this site's backups go out) or ReadOnly (a partner's backups, for restores)
    store_site: str  # whose object store holds the bucket
    bucket: str
    phase: str  # the location's availability as Velero last validated it
    velero: str  # running | stopped
    backups_completed: int = 0
    backups_failed: int = 0
    last_backup: str | None = None
    last_backup_finished: str | None = None
    rpo_seconds: float | None = None  # age of the newest completed backup (data since then is at risk)
    bucket_bytes: int | None = None
    bucket_versions: int | None = None
    errors: list[str] = field(default_factory=list)


def summarize(backups: Iterable[dict[str, Any]], location: str, now: datetime) -> dict[str, Any]:
    """Counts and newest completed backup of one location (pure: unit-tested)."""
    completed: list[tuple[datetime, str]] = []
    failed = 0
    for backup in backups:
        if backup.get("spec", {}).get("storageLocation") != location:
            continue
        status = backup.get("status", {})
        phase = status.get("phase")
        if phase in FAILED:
            failed += 1
        if phase == "Completed":
            started = status.get("startTimestamp") or status.get("completionTimestamp")
            if started:
                completed.append((parse_kube_time(started), backup["metadata"]["name"]))
    summary: dict[str, Any] = {"completed": len(completed), "failed": failed, "last": None, "rpo": None}
    if completed:
        newest, name = max(completed)
        summary.update(last=name, finished=newest.isoformat(), rpo=(now - newest).total_seconds())
    return summary


def site_status(site: str, now: datetime, with_bytes: bool = True) -> list[LocationStatus]:
    reason = kube.reachable(site)
    if reason is not None:
        row = LocationStatus(site, "-", "-", "-", "-", "unreachable", "-")
        row.errors.append(f"API {endpoints.kube_server(site)}: {reason}")
        return [row]
    running = "running" if velero.is_running(site) else "stopped"
    try:
        locations = kube.velero_list(site, "backupstoragelocations")
        backups = kube.velero_list(site, "backups")
    except Exception as error:  # no Velero CRDs yet: the stack has not run
        row = LocationStatus(site, "-", "-", "-", "-", "no velero objects", running)
        row.errors.append(f"{type(error).__name__}: {str(error).splitlines()[0][:160]}")
        return [row]
    rows: list[LocationStatus] = []
    for item in sorted(locations, key=lambda loc: loc["metadata"]["name"]):
        name = item["metadata"]["name"]
        spec = item.get("spec", {})
        bucket = spec.get("objectStorage", {}).get("bucket", "?")
        store_site = item["metadata"].get("labels", {}).get("pdn.go.id/target-site", "?")
        row = LocationStatus(
            site=site,
            location=name,
            mode=spec.get("accessMode", "ReadWrite"),
            store_site=store_site,
            bucket=bucket,
            phase=item.get("status", {}).get("phase", "unknown"),
            velero=running,
        )
        summary = summarize(backups, name, now)
        row.backups_completed, row.backups_failed = summary["completed"], summary["failed"]
        row.last_backup, row.rpo_seconds = summary["last"], summary["rpo"]
        row.last_backup_finished = summary.get("finished")
        if item.get("status", {}).get("message"):
            row.errors.append(str(item["status"]["message"])[:200])
        if with_bytes and row.mode == "ReadWrite" and store_site != "?":
            try:
                used = store.usage(store_site, bucket)
                row.bucket_bytes, row.bucket_versions = used.bytes, used.versions
            except Exception as error:
                row.errors.append(f"{store_site} store {endpoints.s3_endpoint(store_site)}: {store.error_code(error)}")
        rows.append(row)
    return rows


def gather(sites: Iterable[str], with_bytes: bool = True) -> list[LocationStatus]:
    now = datetime.now(UTC)
    return [row for site in sites for row in site_status(site, now, with_bytes)]


def as_json(rows: list[LocationStatus]) -> list[dict[str, Any]]:
    return [asdict(row) for row in rows]


def human_age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def human_bytes(count: int | None) -> str:
    if count is None:
        return "-"
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"
