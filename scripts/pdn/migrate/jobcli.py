"""``pdn migrate copy --on-cluster`` and ``verify --on-cluster``: what they say and in which order.

The steps live in :mod:`pdn.migrate.jobrun` (plan, publish, Job, watch, ledgers); this module
resolves the options (where pods reach the stores, which cluster), prints, and decides between
"nothing to do", "running", "start again" and "start".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pdn.console import console
from pdn.errors import InputError, PdnError
from pdn.migrate import jobrun, jobspec
from pdn.migrate.s3 import Endpoint, credentials_from, friendly_errors
from pdn.migrate.target import TargetStore
from pdn.progress import StepProgress

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class JobOptions:
    parallelism: int
    shard_size: int
    shard_bytes: int
    watch: bool
    watch_timeout: float
    image: str | None
    namespace: str
    kubeconfig: Path | None
    pod_endpoint: str | None
    pod_source_endpoint: str | None
    workers: int
    dry_run: bool


def pod_url(url: str, site_id: str, option: str) -> str:
    """``url`` as the site's pods reach it: a loopback URL of the lab site's MinIO becomes its
    bridge on the site network (:func:`pdn.lab.endpoints.pod_s3_endpoint`); other loopback URLs
    cannot be reached from a pod; anything else is used as it is."""
    if (urlsplit(url).hostname or "") not in LOOPBACK:
        return url
    from pdn.lab import endpoints

    if url.rstrip("/") == endpoints.s3_endpoint(site_id):
        return endpoints.pod_s3_endpoint(site_id)
    raise InputError(f"pods cannot reach {url} (a loopback address of this machine)", hint=f"pass {option} URL")


def _kube(options: JobOptions, site_id: str) -> Any:
    from pdn import kube

    return kube.Kube(options.kubeconfig) if options.kubeconfig else kube.site(site_id)


def copy_on_cluster(
    app_id: str,
    site_id: str,
    target: Endpoint,
    source: Any,
    source_url: str,
    source_endpoint: str,
    source_credentials: Path | None,
    bucket: str | None,
    prefix: str,
    options: JobOptions,
) -> None:
    from pdn.naming import bucket_name, copy_ledger_bucket

    bucket = bucket or bucket_name(app_id)
    pod_target = options.pod_endpoint or pod_url(target.url, site_id, "--pod-endpoint")
    pod_source = options.pod_source_endpoint or (
        pod_target
        if source_endpoint.rstrip("/") == target.url.rstrip("/")
        else pod_url(source_endpoint, site_id, "--pod-source-endpoint")
    )
    ledger_bucket, root = copy_ledger_bucket(), jobrun.ledger_root(bucket, prefix)
    with friendly_errors(f"copy {app_id}"), TargetStore(target) as store:
        probe = store.has_objects(bucket, prefix)
        plan = jobrun.make_plan(source, source_url, bucket, prefix, options.shard_size, options.shard_bytes, probe)
        if not plan.shards:
            console.print(f"nothing to copy: {source_url} is empty")
            return
        settings = jobspec.JobSettings(
            app_id=app_id, site=site_id, namespace=options.namespace, image=options.image or jobspec.DEFAULT_IMAGE,
            plan_id=plan.plan_id, root=root, ledger_bucket=ledger_bucket, bucket=bucket, prefix=prefix,
            source=source_url, source_endpoint=pod_source, target_endpoint=pod_target, target_region=target.region,
            shards=len(plan.shards), parallelism=options.parallelism, workers=options.workers,
            largest_object=plan.largest,
        )  # fmt: skip
        jobspec.check(settings)
        said = (
            f"plan {plan.plan_id}: {plan.objects} objects ({plan.bytes / 1e6:.1f} MB) in {len(plan.shards)} shards "
            f"of at most {options.shard_size} objects, {options.parallelism} pods at a time"
        )
        console.print(said, highlight=False)
        if options.dry_run:
            console.print(f"dry run: Job {options.namespace}/{settings.job_name} not created")
            return
        kube = _kube(options, site_id)
        name, namespace = settings.job_name, settings.namespace
        existing = kube.get(jobrun.job_path(namespace, name))
        same_plan = (
            existing is not None
            and (existing["metadata"].get("annotations") or {}).get(jobspec.PLAN_ANNOTATION) == plan.plan_id
        )
        state = jobrun.finished(existing)
        if existing is not None and same_plan and state is None:
            console.print(f"Job {namespace}/{name} is running this plan: {jobrun.counts(existing)}")
            _follow(kube, store, settings, options)
            return
        manifest = jobrun.published(store, ledger_bucket, root, plan.plan_id)
        if manifest is not None and (existing is None or (same_plan and state == "Complete")):
            ledgers = jobrun.ledger_state(store, ledger_bucket, root, manifest)
            if ledgers.complete:
                job_said = f"Job {namespace}/{name} is complete" if existing is not None else "the copy Job ran before"
                console.print(
                    f"{job_said} and its ledgers hold all {ledgers.objects} objects of plan {plan.plan_id}: "
                    "nothing to do"
                )
                return
        if existing is not None and state is None:
            raise PdnError(
                f"Job {namespace}/{name} is running another plan of {app_id} (the source changed since)",
                hint="wait for it (--watch) and run the same command again",
            )
        store.ensure_bucket(bucket)
        jobrun.publish(store, ledger_bucket, root, plan)
        source_keys = credentials_from(source_credentials, prefix="PDN_SOURCE_S3")
        keys = {
            "PDN_SOURCE_S3_ACCESS_KEY": source_keys.access_key,
            "PDN_SOURCE_S3_SECRET_KEY": source_keys.secret_key,
            "PDN_SOURCE_S3_SESSION_TOKEN": source_keys.session_token or "",
            "PDN_S3_ACCESS_KEY": target.access_key,
            "PDN_S3_SECRET_KEY": target.secret_key,
            "PDN_S3_SESSION_TOKEN": target.session_token or "",
        }
        jobrun.ensure_objects(kube, settings, keys)
        if existing is not None:
            console.print(
                f"Job {namespace}/{name} {'failed' if state == 'Failed' else 'is stale'}: deleting it and its pods"
            )
            jobrun.delete_job(kube, namespace, name)
        jobrun.create_job(kube, settings)
        console.print(f"[green]✓[/] Job {namespace}/{name} created ({len(plan.shards)} shards, plan {plan.plan_id})")
        _follow(kube, store, settings, options)


def _follow(kube: Any, store: TargetStore, settings: jobspec.JobSettings, options: JobOptions) -> None:
    name, namespace = settings.job_name, settings.namespace
    if not options.watch:
        console.print(
            f"watch it: the same command with --watch, or kubectl -n {namespace} get job {name}", highlight=False
        )
        return
    with StepProgress(f"copy Job {name}", total=settings.shards, unit="shards") as bar:
        job = jobrun.watch(
            kube, namespace, name, settings.shards, options.watch_timeout,
            lambda done, line: bar.update(completed=done, doing=line),
        )  # fmt: skip
    ledgers = jobrun.ledger_state(store, settings.ledger_bucket, settings.root, _manifest(store, settings))
    said = f"{ledgers.copied}/{ledgers.objects} objects ({ledgers.copied_bytes / 1e6:.1f} MB) in the ledgers"
    if jobrun.finished(job) == "Failed":
        raise PdnError(
            f"Job {namespace}/{name} failed: {jobrun.counts(job)}; {said}",
            hint="see the pods' logs (kubectl logs); re-run the same command: copied objects are not copied again",
        )
    seconds = jobrun.elapsed(job)
    took = f" in {seconds:.0f} s" if seconds is not None else ""
    console.print(f"[green]✓[/] Job {namespace}/{name} complete{took}: {jobrun.counts(job)}; {said}")


def _manifest(store: TargetStore, settings: jobspec.JobSettings) -> dict[str, Any]:
    manifest = jobrun.published(store, settings.ledger_bucket, settings.root, settings.plan_id)
    if manifest is None:
        raise PdnError(f"plan {settings.plan_id} is missing from {settings.ledger_bucket}")
    return manifest


def _latest_plan(store: TargetStore, bucket: str, prefix: str) -> tuple[str, str, dict[str, Any]]:
    """(ledger bucket, ledger root, manifest) of the latest copy Job plan for ``bucket``/``prefix``."""
    from pdn.naming import copy_ledger_bucket

    ledger_bucket, root = copy_ledger_bucket(), jobrun.ledger_root(bucket, prefix)
    manifest = jobrun.current_plan(store, ledger_bucket, root)
    if manifest is None:
        raise InputError(
            f"no copy Job plan for {bucket}{'/' + prefix if prefix else ''} in {ledger_bucket}",
            hint="run `pdn migrate copy --on-cluster` first",
        )
    return ledger_bucket, root, manifest


def _merge_afresh(
    store: TargetStore, ledger_bucket: str, root: str, manifest: dict[str, Any], path: Path
) -> jobrun.LedgerState:
    """The plan's shard ledgers merged into a new local ledger at ``path`` (an older one is replaced)."""
    from pdn.migrate.ledger import Ledger

    for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        stale.unlink(missing_ok=True)
    with Ledger(path) as ledger:
        return jobrun.merge_ledgers(store, ledger_bucket, root, manifest, ledger)


def merge_job_ledger(store: TargetStore, bucket: str, prefix: str, path: Path) -> jobrun.LedgerState:
    """The latest copy Job plan's shard ledgers, merged into a fresh local ledger at ``path``."""
    ledger_bucket, root, manifest = _latest_plan(store, bucket, prefix)
    state = _merge_afresh(store, ledger_bucket, root, manifest, path)
    console.print(
        f"plan {manifest['plan']}: ledgers of {state.shards} shards merged into {path.name}: "
        f"{state.copied}/{state.objects} objects copied",
        highlight=False,
    )
    return state


@dataclass(frozen=True)
class VerifyResult:
    ok: int
    mismatched: list[str]
    missing: list[str]


def verify_on_cluster(
    app_id: str, site_id: str, target: Endpoint, bucket: str | None, prefix: str, options: JobOptions, path: Path
) -> VerifyResult:
    """Re-read the latest plan's objects as an Indexed Job (``verify-<app>``, one pod per shard),
    wait for it, and merge its shard ledgers into ``path``; what they say."""
    from pdn.migrate.ledger import Ledger
    from pdn.naming import bucket_name

    bucket = bucket or bucket_name(app_id)
    pod_target = options.pod_endpoint or pod_url(target.url, site_id, "--pod-endpoint")
    with friendly_errors(f"verify {app_id}"), TargetStore(target) as store:
        ledger_bucket, root, manifest = _latest_plan(store, bucket, prefix)
        settings = jobspec.JobSettings(
            app_id=app_id, site=site_id, namespace=options.namespace, image=options.image or jobspec.DEFAULT_IMAGE,
            plan_id=manifest["plan"], root=root, ledger_bucket=ledger_bucket, bucket=bucket, prefix=prefix,
            source=manifest["source"], source_endpoint=pod_target, target_endpoint=pod_target,
            target_region=target.region, shards=manifest["shards"], parallelism=options.parallelism,
            workers=options.workers, largest_object=0, mode="verify",
        )  # fmt: skip
        jobspec.check(settings)
        kube = _kube(options, site_id)
        if kube.get(jobrun.job_path(settings.namespace, settings.job_name)) is not None:
            jobrun.delete_job(kube, settings.namespace, settings.job_name)  # a verify always reads afresh
        keys = {"PDN_S3_ACCESS_KEY": target.access_key, "PDN_S3_SECRET_KEY": target.secret_key,
                "PDN_S3_SESSION_TOKEN": target.session_token or ""}  # fmt: skip
        jobrun.ensure_objects(kube, settings, keys)
        jobrun.create_job(kube, settings)
        console.print(f"Job {settings.namespace}/{settings.job_name} created ({settings.shards} shards)")
        with StepProgress(f"verify Job {settings.job_name}", total=settings.shards, unit="shards") as bar:
            job = jobrun.watch(
                kube, settings.namespace, settings.job_name, settings.shards, options.watch_timeout,
                lambda done, line: bar.update(completed=done, doing=line),
            )  # fmt: skip
        if jobrun.finished(job) == "Failed":
            raise PdnError(
                f"Job {settings.namespace}/{settings.job_name} failed: {jobrun.counts(job)}",
                hint="see the pods' logs (kubectl logs); then run the same command again",
            )
        _merge_afresh(store, ledger_bucket, root, manifest, path)
    with Ledger(path) as ledger:
        entries = list(ledger.entries())
    seconds = jobrun.elapsed(job)
    took = f" in {seconds:.0f} s" if seconds is not None else ""
    console.print(f"Job {settings.namespace}/{settings.job_name} complete{took}: {jobrun.counts(job)}")
    return VerifyResult(
        sum(entry.state == "verified" for entry in entries),
        [entry.key for entry in entries if entry.state == "mismatch"],
        [entry.key for entry in entries if entry.state in ("pending", "copied")],
    )
