"""The operator's side of a copy Job: plan, publish, start, watch, and read the ledgers back.

``pdn migrate copy APP --on-cluster`` lists the ``s3://`` source once, cuts the listing into
shards (:mod:`pdn.migrate.shards`), writes the shard plan into the target site's ledger bucket,
puts the keys into a Secret and creates the Indexed Job (:mod:`pdn.migrate.jobspec`) through
:mod:`pdn.kube`. The same command again finds the same plan (same listing, same options, same
plan id): a running Job is left running, a complete Job whose ledgers hold every object is
reported and nothing is done, a failed or stale Job is deleted (its pods first) and created
again; its pods start from their shards' ledgers, so only what is missing is copied.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pdn import kube as kube_module
from pdn.errors import PdnError
from pdn.kube import Kube
from pdn.migrate import jobspec, shards
from pdn.migrate.jobcopy import LEDGER_LIMIT
from pdn.migrate.ledger import Ledger
from pdn.migrate.sources import Source, SourceObject
from pdn.migrate.target import TargetStore
from pdn.wait import wait_until

TRANSFER_THREADS = 16


def ledger_root(bucket: str, prefix: str) -> str:
    """Where the plans and ledgers of copies into ``bucket``/``prefix`` live in the ledger bucket."""
    from pdn import naming

    return bucket + (f"/p-{naming.digest(prefix)}" if prefix else "")


def make_plan(
    source: Source, source_url: str, bucket: str, prefix: str, max_objects: int, max_bytes: int, probe: bool
) -> shards.Plan:
    return shards.Plan(
        source_url, bucket, prefix, shards.split(source.list(), max_objects, max_bytes), max_objects, max_bytes, probe
    )


def _put_json(store: TargetStore, bucket: str, key: str, data: bytes) -> None:
    import hashlib

    store.put(bucket, key, data, hashlib.sha256(data).hexdigest(), {})


def published(store: TargetStore, ledger_bucket: str, root: str, plan_id: str) -> dict[str, Any] | None:
    """The manifest of plan ``plan_id`` when it was written completely (its plan.json is last)."""
    key = shards.plan_key(root, plan_id)
    raw = store.get_small(ledger_bucket, key, shards.PLAN_FILE_LIMIT)
    return None if raw is None else shards.parse_manifest(raw, f"{ledger_bucket}/{key}")


def publish(store: TargetStore, ledger_bucket: str, root: str, plan: shards.Plan) -> dict[str, Any]:
    """Write the shard files, then plan.json, then current.json (a plan is complete once plan.json
    is there: a run killed half-way writes the same files again). Returns the manifest in force."""
    store.ensure_bucket(ledger_bucket)
    existing = published(store, ledger_bucket, root, plan.plan_id)
    if existing is None:
        with ThreadPoolExecutor(TRANSFER_THREADS, thread_name_prefix="pdn-plan") as pool:
            list(
                pool.map(
                    lambda pair: _put_json(
                        store, ledger_bucket, shards.shard_key(root, plan.plan_id, pair[0]), shards.shard_bytes(pair[1])
                    ),
                    enumerate(plan.shards),
                )
            )
        existing = plan.manifest()
        _put_json(store, ledger_bucket, shards.plan_key(root, plan.plan_id), json.dumps(existing, indent=1).encode())
    _put_json(store, ledger_bucket, shards.current_key(root), json.dumps({"plan": plan.plan_id}).encode())
    return existing


def current_plan(store: TargetStore, ledger_bucket: str, root: str) -> dict[str, Any] | None:
    """The manifest of the latest plan copied into this bucket and prefix, if any."""
    raw = store.get_small(ledger_bucket, shards.current_key(root), shards.PLAN_FILE_LIMIT)
    if raw is None:
        return None
    try:
        plan_id = json.loads(raw)["plan"]
    except (ValueError, KeyError, TypeError):
        raise PdnError(f"{ledger_bucket}/{shards.current_key(root)} is not a plan pointer") from None
    if not isinstance(plan_id, str) or not plan_id.isalnum():
        raise PdnError(f"{ledger_bucket}/{shards.current_key(root)}: bad plan id")
    return published(store, ledger_bucket, root, plan_id)


@dataclass
class LedgerState:
    objects: int
    copied: int
    copied_bytes: int
    shards_done: int
    shards: int

    @property
    def complete(self) -> bool:
        return self.copied == self.objects


def merge_ledgers(
    store: TargetStore, ledger_bucket: str, root: str, manifest: dict[str, Any], into: Ledger
) -> LedgerState:
    """Every shard's snapshot (and, for a shard without one, its objects as pending) into ``into``;
    counts what the ledgers say is copied, against the plan."""
    plan_id, count = manifest["plan"], manifest["shards"]

    def fetch(index: int) -> tuple[list[SourceObject], bytes | None]:
        key = shards.shard_key(root, plan_id, index)
        raw = store.get_small(ledger_bucket, key, shards.SHARD_FILE_LIMIT)
        if raw is None:
            raise PdnError(f"plan {plan_id}: shard file {ledger_bucket}/{key} is missing")
        snapshot = store.get_small(ledger_bucket, shards.ledger_key(root, plan_id, index), LEDGER_LIMIT)
        return shards.parse_shard(raw, f"{ledger_bucket}/{key}"), snapshot

    state = LedgerState(manifest["objects"], 0, 0, 0, count)
    into.set_meta(source=manifest["source"], bucket=manifest["bucket"], prefix=manifest["prefix"], plan=plan_id)
    with (
        ThreadPoolExecutor(TRANSFER_THREADS, thread_name_prefix="pdn-ledgers") as pool,
        tempfile.TemporaryDirectory() as tmp,
    ):
        for index, (items, snapshot) in enumerate(pool.map(fetch, range(count))):
            planned = {item.key: item for item in items}
            done = 0
            if snapshot is not None:
                part = Path(tmp) / f"{index}.sqlite"
                part.write_bytes(snapshot)
                into.merge_from(part)
            rows = {key: into.get(key) for key in planned}
            into.upsert_pending(
                [(item.key, item.size, item.identity) for key, item in planned.items() if rows[key] is None]
            )
            for key, item in planned.items():
                entry = rows[key]
                if (
                    entry
                    and entry.state in ("copied", "verified")
                    and (entry.size, entry.identity) == (item.size, item.identity)
                ):
                    done += 1
                    state.copied_bytes += item.size
            state.copied += done
            state.shards_done += done == len(items)
    return state


def ledger_state(store: TargetStore, ledger_bucket: str, root: str, manifest: dict[str, Any]) -> LedgerState:
    with tempfile.TemporaryDirectory() as tmp, Ledger(Path(tmp) / "merged.sqlite") as merged:
        return merge_ledgers(store, ledger_bucket, root, manifest, merged)


# -- the Job ------------------------------------------------------------------------------------


def job_path(namespace: str, name: str) -> str:
    return kube_module.path("batch/v1", "jobs", namespace, name)


def finished(job: dict[str, Any] | None) -> str | None:
    """``Complete`` or ``Failed`` once the Job controller says so, else ``None``."""
    for condition in ((job or {}).get("status") or {}).get("conditions") or []:
        if condition.get("type") in ("Complete", "Failed") and condition.get("status") == "True":
            return str(condition["type"])
    return None


def counts(job: dict[str, Any] | None) -> str:
    status = (job or {}).get("status") or {}
    line = (
        f"{status.get('succeeded', 0)} succeeded, {status.get('active', 0)} active, "
        f"{status.get('failed', 0)} failed pods"
    )
    if status.get("failedIndexes"):
        line += f", failed shards {status['failedIndexes']}"
    return line


def delete_job(kube: Kube, namespace: str, name: str, timeout: float = 180) -> None:
    """Delete the Job and its pods, and wait until it is gone (pods first: none of its pods may
    still copy a shard when the new Job's pod for it starts)."""
    where = job_path(namespace, name)
    kube.delete(where, query={"propagationPolicy": "Foreground"})
    wait_until(
        f"Job {namespace}/{name} deleted",
        lambda: kube.get(where),
        lambda job: job is None,
        timeout=timeout,
        interval=1.0,
    )


def ensure_objects(kube: Kube, settings: jobspec.JobSettings, keys: dict[str, str]) -> None:
    kube.apply(jobspec.namespace(settings.namespace), field_manager=jobspec.FIELD_MANAGER)
    kube.apply(jobspec.secret(settings, keys), field_manager=jobspec.FIELD_MANAGER, force=True)
    kube.apply(jobspec.network_policy(settings), field_manager=jobspec.FIELD_MANAGER, force=True)


def create_job(kube: Kube, settings: jobspec.JobSettings) -> dict[str, Any]:
    created = kube.create(kube_module.path("batch/v1", "jobs", settings.namespace), jobspec.job(settings))
    if created is None:
        raise PdnError(f"Job {settings.namespace}/{settings.job_name} exists already", hint="re-run the same command")
    return created


def watch(
    kube: Kube,
    namespace: str,
    name: str,
    shards_total: int,
    timeout: float,
    progress: Callable[[int, str], None],
) -> dict[str, Any]:
    """Poll the Job until it is Complete or Failed; ``progress(succeeded, counts line)`` each time."""

    def probe() -> dict[str, Any] | None:
        job = kube.get(job_path(namespace, name))
        if job is None:
            raise PdnError(f"Job {namespace}/{name} disappeared")
        progress(int((job.get("status") or {}).get("succeeded", 0)), counts(job))
        return job

    job = wait_until(
        f"copy Job {namespace}/{name} ({shards_total} shards)",
        probe,
        lambda job: finished(job) is not None,
        timeout=timeout,
        interval=2.0,
        describe=counts,
        hint="the Job keeps running: watch again with the same command and --watch",
    )
    assert job is not None
    return job


def elapsed(job: dict[str, Any]) -> float | None:
    """Seconds from the Job's start to its completion (None until both are known)."""
    status = job.get("status") or {}
    try:
        start = kube_module.parse_time(str(status["startTime"]))
        end = kube_module.parse_time(str(status["completionTime"]))
    except (KeyError, ValueError):
        return None
    return (end - start).total_seconds()


__all__ = [
    "LedgerState",
    "create_job",
    "current_plan",
    "delete_job",
    "elapsed",
    "ensure_objects",
    "finished",
    "ledger_state",
    "make_plan",
    "merge_ledgers",
    "publish",
    "published",
    "watch",
]
