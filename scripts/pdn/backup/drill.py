"""The cross-region disaster-recovery drill: back up a site, restore it on its partner, prove it.

Order of work, and why:

1. checks that write nothing: both API servers, the partner's object store and the bucket, both
   Velero locations (a stopped partner fails here, before the source is touched);
2. the Velero servers of both sites (started if needed) and the source's ``to-<partner>``
   location ``Available``;
3. seed (optional), Velero Backup through ``to-<partner>``, wait until the partner's ReadOnly
   ``from-<source>`` location has synced it, Restore with a namespace mapping to drill namespaces;
4. compare source and restored objects, prove the archive in the partner bucket immutable, write
   the report, clean up.

Step 1 and the manifests are :mod:`pdn.backup.drill_plan`, the result as data
:mod:`pdn.backup.drill_record`; this module runs steps 2-4.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from rich.progress import BarColumn, SpinnerColumn, TextColumn, TimeElapsedColumn

from pdn.backup import drillapps, kube, recovery, seed, siteloss, store, velero
from pdn.backup.compare import compare_namespaces
from pdn.backup.drill_plan import DrillOptions, Plan, backup_manifest, preflight, restore_manifest
from pdn.backup.drill_record import write_all
from pdn.backup.report import DrillResult, Phase
from pdn.console import console
from pdn.errors import PdnError
from pdn.kube import parse_time as parse_kube_time
from pdn.progress import StepProgress
from pdn.wait import wait_until

BACKUP_TIMEOUT = 600.0
SYNC_TIMEOUT = 120.0
RESTORE_TIMEOUT = 900.0
# Final phases only: "Finalizing…" still moves (a restore's pod volumes are finished there).
DONE_PHASES = {"Completed", "PartiallyFailed", "Failed", "FailedValidation"}


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return parse_kube_time(value)


class Timeline:
    """Phases of the drill with wall-clock start and end (for the report's chart)."""

    def __init__(self) -> None:
        self.phases: list[Phase] = []

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        started = datetime.now(UTC)
        try:
            yield
        finally:
            self.phases.append(Phase(name, started, datetime.now(UTC)))


def _progress(what: str, total: float | None = None, count: str = "", key: str | None = None) -> StepProgress:
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[count]}"),
               TimeElapsedColumn())  # fmt: skip
    return StepProgress(what, total=total, unit="items", key=key, columns=columns, fields={"count": count})


def wait_for(
    site: str,
    plural: str,
    name: str,
    timeout: float,
    label: str,
    done: Callable[[dict[str, Any]], bool],
    counts: Callable[[dict[str, Any]], tuple[int, int | None]] = lambda _obj: (0, None),
) -> dict[str, Any]:
    """Poll a Velero object until ``done``; show its progress. Raises on timeout."""
    with _progress(label, key=f"drill {label}") as progress:

        def look() -> dict[str, Any] | None:
            found = kube.velero_get(site, plural, name)
            if found is not None:
                completed, total = counts(found)
                phase = found.get("status", {}).get("phase", "New")
                progress.update(completed=completed, total=total, description=f"{label} [{phase}]", doing=phase,
                                count=f"{completed}/{total} items" if total else "")  # fmt: skip
            return found

        found = wait_until(
            f"{site}'s {plural[:-1]} {name} to finish", look, lambda obj: obj is not None and done(obj),
            timeout=timeout, interval=0.25, hint=f"see {velero.server_spec(site).log_file}",
            describe=lambda obj: f"phase {(obj or {}).get('status', {}).get('phase', 'not found')}",
        )  # fmt: skip
        assert found is not None
        total = counts(found)[1]
        if total:
            progress.update(completed=total, count=f"{total}/{total} items")
        return found


def _item_counts(key_done: str) -> Callable[[dict[str, Any]], tuple[int, int | None]]:
    def counts(obj: dict[str, Any]) -> tuple[int, int | None]:
        progress = obj.get("status", {}).get("progress", {})
        return int(progress.get(key_done, 0)), progress.get("totalItems")

    return counts


def _finished(obj: dict[str, Any]) -> bool:
    return obj.get("status", {}).get("phase") in DONE_PHASES


def _seed(plan: Plan, count: int) -> int:
    objects: list[dict[str, Any]] = []
    if plan.seed_namespace and plan.seed_namespace not in plan.created_namespaces:
        seed.apply(plan.source, [seed.drill_namespace(plan.seed_namespace, plan.source, plan.run_id)])
        plan.created_namespaces.append(plan.seed_namespace)
    target = plan.seed_namespace or next(iter(plan.namespaces))
    objects = seed.workloads(target, count, plan.run_id)
    with _progress(f"seeding {plan.source}/{target}", total=len(objects), count=f"{count} objects") as progress:
        seed.apply(plan.source, objects, progress.advance)
    return len(objects)


def _location_available(site: str, name: str, timeout: float = 60.0) -> None:
    def phase() -> str:
        found = kube.velero_get(site, "backupstoragelocations", name) or {}
        return str(found.get("status", {}).get("phase", "unknown"))

    wait_until(
        f"{site}'s Velero location {name} to be Available (Velero must reach the partner bucket)", phase,
        lambda seen: seen == "Available", timeout=timeout, interval=0.5, describe=lambda seen: f"phase {seen}",
        hint=f"see {velero.server_spec(site).log_file}",
    )  # fmt: skip


def run(options: DrillOptions, say: Callable[[str], None] = console.print) -> DrillResult:
    """Run one drill; returns the result (also written as a report when ``report_dir`` is set)."""
    plan = preflight(options)
    say(
        f"drill {plan.source} → {plan.partner}: namespaces {', '.join(plan.namespaces)}; "
        f"backup {plan.backup} via {plan.location}, restore via {plan.restore_location}"
    )
    timeline = Timeline()
    result = DrillResult(
        source=plan.source,
        partner=plan.partner,
        namespaces=dict(plan.namespaces),
        backup_name=plan.backup,
        location=plan.location,
        restore_location=plan.restore_location,
    )
    result.site_loss = options.site_loss
    outage: siteloss.Outage | None = None
    try:
        with timeline.phase("velero"):
            velero.ensure_servers([plan.source, plan.partner], say)
            _location_available(plan.source, plan.location)
        if options.seed > 0:
            with timeline.phase("seed"):
                _seed(plan, options.seed)
        if options.apps > 0:
            with timeline.phase("apps"):
                _create_apps(plan, options)
        apps = _recoverable(plan, _running_apps(plan), result)
        if apps:
            with timeline.phase("smoke on source"):
                result.source_answers = drillapps.smoke(plan.source, apps)
        # A namespace the drill made has no history to measure.
        history = {ns: target for ns, target in plan.namespaces.items() if ns != plan.seed_namespace}
        result.recovery = recovery.assess_rpo(plan.source, history, datetime.now(UTC))
        result.rto_target = recovery.rto_target(plan.source, history)
        with timeline.phase("backup"):
            kube.velero_create(plan.source, "backups", backup_manifest(plan))
            backup = wait_for(
                plan.source,
                "backups",
                plan.backup,
                BACKUP_TIMEOUT,
                f"backup on {plan.source}",
                _finished,
                _item_counts("itemsBackedUp"),
            )
        phase = backup.get("status", {}).get("phase")
        if phase != "Completed":
            why = "; ".join(backup.get("status", {}).get("validationErrors") or [])
            raise PdnError(
                f"{plan.source}: backup {plan.backup} ended {phase}: "
                f"{why or velero.last_error(velero.server_spec(plan.source))}",
                hint=f"see {velero.server_spec(plan.source).log_file}",
            )
        backed_up = siteloss.snapshot(plan.source, plan.namespaces)  # what the restore must bring back
        partner_before = (  # a site loss must leave the partner's own tenants as they were
            siteloss.snapshot(plan.partner, siteloss.own_tenant_namespaces(plan.partner)) if options.site_loss else {}
        )
        with timeline.phase("sync"):
            wait_for(
                plan.partner,
                "backups",
                plan.backup,
                SYNC_TIMEOUT,
                f"{plan.partner} syncing {plan.restore_location}",
                lambda obj: obj.get("status", {}).get("phase") == "Completed",
            )
        if options.immutability:  # before the restore, so the restore shows the attacked backup still works
            with timeline.phase("immutability"):
                _prove_immutable(plan, result)
        if options.site_loss:
            with timeline.phase(f"{plan.source} lost"):
                outage = siteloss.lose(plan.source, say)
        restore_started = datetime.now(UTC)
        backup_started = parse_time(backup.get("status", {}).get("startTimestamp"))
        if backup_started is not None:
            result.drill_backup_age = (restore_started - backup_started).total_seconds()
        with timeline.phase("restore"):
            kube.velero_create(plan.partner, "restores", restore_manifest(plan))
            restore = wait_for(
                plan.partner,
                "restores",
                plan.restore,
                RESTORE_TIMEOUT,
                f"restore on {plan.partner}",
                _finished,
                _item_counts("itemsRestored"),
            )
        status = restore.get("status", {})
        result.restored_items = status.get("progress", {}).get("itemsRestored")
        if status.get("phase") not in ("Completed", "PartiallyFailed"):
            raise PdnError(
                f"{plan.partner}: restore {plan.restore} ended {status.get('phase')}: "
                f"{status.get('failureReason', '')}",
                hint=f"see {velero.server_spec(plan.partner).log_file}",
            )
        if apps:
            restored = [drillapps.DrillApp(plan.namespaces[app.namespace], app.name) for app in apps]
            with timeline.phase("apps answer on partner"):
                try:
                    drillapps.wait_ready(plan.partner, restored)
                    result.restored_answers = drillapps.smoke(plan.partner, restored)
                except PdnError as error:
                    result.app_problems.append(str(error))
            result.apps_answered_seconds = (datetime.now(UTC) - restore_started).total_seconds()
            result.app_problems += drillapps.compare(result.source_answers, result.restored_answers)
        with timeline.phase("verify"):
            pairs = []
            for source_ns, target_ns in plan.namespaces.items():
                source_objects = list(backed_up.get(source_ns, []))
                restored_objects = kube.namespace_objects(plan.partner, target_ns)
                restored_meta = kube.namespace(plan.partner, target_ns)
                if restored_meta is not None:
                    restored_meta["metadata"]["name"] = source_ns
                    restored_objects.append(restored_meta)
                pairs.append((source_ns, source_objects, restored_objects))
            result.comparison = compare_namespaces(pairs)
        for _namespace, source_objects, _restored in pairs:
            for obj in source_objects:
                result.objects_by_kind[obj["kind"]] = result.objects_by_kind.get(obj["kind"], 0) + 1
        if outage is not None:
            with timeline.phase(f"{plan.source} returns"):
                siteloss.bring_back(outage, say)
                outage = None
                returned = siteloss.snapshot_after_return(plan.source, plan.namespaces)
                result.site_returned = siteloss.unchanged(backed_up, returned)
        if options.site_loss:
            after = siteloss.snapshot(plan.partner, partner_before)
            result.partner_unchanged = siteloss.unchanged(partner_before, after)
        results = store.restore_results(plan.partner, plan.bucket, plan.restore)
        result.warnings = store.flatten_results(results, "warnings")
        errors = store.flatten_results(results, "errors")
        result.notes += [f"Velero restore error: {line}" for line in errors]
    finally:
        if outage is not None:  # never leave a site down because the drill failed
            siteloss.bring_back(outage, say)
        result.phases = list(timeline.phases)
        if not options.keep:
            with timeline.phase("cleanup"):
                _cleanup(plan, say)
            result.phases = list(timeline.phases)
        else:
            say("kept: " + ", ".join([*plan.namespaces.values(), *plan.created_namespaces]))
    if options.report_dir is not None:
        write_all(result, options.report_dir)
    return result


def _prove_immutable(plan: Plan, result: DrillResult) -> None:
    """Try to delete and overwrite the backup's archive and, with volumes, one Kopia data blob of
    each namespace's repository, in the partner bucket."""
    targets = [("archive", store.archive_key(plan.backup))]
    if plan.with_volumes:
        targets += [(f"Kopia data of {ns}", blob) for ns in plan.namespaces
                    if (blob := store.kopia_blob(plan.partner, plan.bucket, ns)) is not None]  # fmt: skip
    for what, key in targets:
        proof = store.prove_immutable(plan.partner, plan.bucket, key)
        if what == "archive":
            result.lock = proof.lock
            result.immutability.update(proof.outcomes)
        else:
            result.immutability.update({f"{check} ({what})": outcome for check, outcome in proof.outcomes.items()})
    keys = ", ".join(key for _what, key in targets)
    result.notes.append(
        f"The overwrite attempts left noncurrent versions of {keys} in {plan.bucket} on {plan.partner}; the "
        "original bytes were copied back on top before the restore."
    )


def _create_apps(plan: Plan, options: DrillOptions) -> None:
    if not plan.with_volumes:
        raise PdnError(
            f"--apps needs Velero's node agent on {plan.source} and {plan.partner}: real nodes on both sites",
            hint=f"pdn lab up --site {plan.source} --site {plan.partner} --real-nodes 1",
        )
    target = plan.seed_namespace or next(iter(plan.namespaces))
    if plan.seed_namespace and plan.seed_namespace not in plan.created_namespaces:
        seed.apply(plan.source, [seed.drill_namespace(plan.seed_namespace, plan.source, plan.run_id)])
        plan.created_namespaces.append(plan.seed_namespace)
    size = f"{options.files} files, {options.volume_bytes / 1e6:.0f} MB each"
    with _progress(f"apps on {plan.source}/{target}", total=options.apps, count=size) as progress:
        drillapps.create_apps(plan.source, target, options.apps, options.files, options.volume_bytes, plan.run_id,
                              progress.advance)  # fmt: skip


def _running_apps(plan: Plan) -> list[drillapps.DrillApp]:
    """The apps whose answers the drill compares: every Deployment with a Service of its name in the
    drilled namespaces (only where volumes are backed up: elsewhere pods do not run)."""
    if not plan.with_volumes:
        return []
    return [app for namespace in plan.namespaces for app in drillapps.find_apps(plan.source, namespace)]


def _recoverable(plan: Plan, apps: list[drillapps.DrillApp], result: DrillResult) -> list[drillapps.DrillApp]:
    """The apps whose answers can be compared after the restore: those that keep their data on their
    volumes. Apps that read a bucket in the source's object store (migrated apps) cannot answer on
    the partner, whose network has no route to that store and whose own store holds no copy of the
    bucket (app buckets are not replicated across sites): they are named in the report instead."""
    result.store_apps = [f"{app.namespace}/{app.name}" for app in apps if not app.volume_only]
    if result.store_apps:
        result.notes.append(
            f"{len(result.store_apps)} app(s) keep their data in a bucket of {plan.source}'s object store, which "
            f"is not replicated to {plan.partner}: restored as objects, not run: " + ", ".join(result.store_apps)
        )
    return [app for app in apps if app.volume_only]


def _cleanup(plan: Plan, say: Callable[[str], None]) -> None:
    """Remove what the drill created; the backup stays (it is locked, and Velero would sync it back)."""
    removed = [name for name in plan.namespaces.values() if kube.delete_namespace(plan.partner, name)]
    if plan.seed_into_tenant:
        kube.delete_labelled(plan.source, next(iter(plan.namespaces)), f"{seed.DRILL_LABEL}={plan.run_id}")
    for name in plan.created_namespaces:
        kube.delete_namespace(plan.source, name)
    if kube.velero_get(plan.partner, "restores", plan.restore) is not None and velero.is_running(plan.partner):
        kube.velero_delete(plan.partner, "restores", plan.restore)
    if removed or plan.created_namespaces:
        say(f"cleaned up: {', '.join([*removed, *plan.created_namespaces])} (backup {plan.backup} kept)")
