"""One pod of a copy Job: copy shard ``JOB_COMPLETION_INDEX`` with the one-process copy's code.

``python3 -m pdn.migrate.jobcopy worker`` (the copy Job's command; ``verify`` for a verify Job, which
re-reads the shard's objects with :func:`pdn.migrate.verify.verify`; :mod:`pdn.migrate.jobspec` sets its
environment). The shard's ledger is the same SQLite :class:`~pdn.migrate.ledger.Ledger` as the
one-process copy's, kept in the pod's emptyDir, and its home is the target store:

1. The pod reads its shard (``shard-NNNNN.json``) and downloads the shard's ledger snapshot
   (``shard-NNNNN.sqlite``) when an earlier pod of the same index left one; a local file from
   before is never trusted (only the store's copy is what every pod and re-run sees).
2. It records every object of the shard as pending and uploads that snapshot *before* sending
   anything; after each commit batch of :func:`pdn.migrate.copy.copy` (at most every
   ``FLUSH_SECONDS``) and on every exit it uploads the snapshot again.
3. Recovery rule: an object that the store confirmed after the last snapshot is still
   ``pending`` there. Before copying, the pod HEADs every pending object of its snapshot (and
   every object at all when the plan says the target held data before, ``probe``): when the
   target object has the source's size, its ``source-identity`` metadata equals the source
   identity and it carries a SHA-256, it is the copy of this source object (copy writes both
   only on a PUT signed with that SHA-256, or a multipart upload whose parts re-hashed to it) and
   is marked copied without sending it again. Nothing is lost, nothing is sent twice.
4. Only the multipart uploads of its own pending large objects are aborted: the other pods'
   uploads under the same prefix are live.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from pdn.errors import PdnError
from pdn.migrate import copy as copy_stage
from pdn.migrate import jobenv, shards
from pdn.migrate.ledger import Entry, Ledger
from pdn.migrate.s3 import META_IDENTITY, META_SHA, Endpoint
from pdn.migrate.sources import BucketSource, Source, SourceObject
from pdn.migrate.target import TargetStore

LEDGER_LIMIT = 1024 * 1024 * 1024  # bytes of one shard's ledger snapshot read back
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
PROBE_THREADS = 16


class PlannedSource:
    """The objects of one shard, as the operator listed them; read from the real source (verify
    passes none: it only compares the plan with the ledger)."""

    def __init__(self, source: Source | None, items: Sequence[SourceObject], description: str = "") -> None:
        self.inner, self.items = source, list(items)
        self.description = source.description if source is not None else description
        self.skipped: list[tuple[str, str]] = []

    def list(self) -> Iterator[SourceObject]:
        yield from self.items

    def open(self, key: str) -> IO[bytes]:
        if self.inner is None:
            raise PdnError(f"{key}: this shard has no source to read from")
        return self.inner.open(key)


class Snapshots:
    """Uploads the shard's ledger to the store: after a commit at most every ``every`` seconds,
    always when forced (before the first object is sent, on exit)."""

    def __init__(self, store: TargetStore, bucket: str, key: str, ledger: Ledger, every: float) -> None:
        self.store, self.bucket, self.key, self.ledger, self.every = store, bucket, key, ledger, every
        self.last = float("-inf")
        self.uploads = 0

    def __call__(self) -> None:
        if time.monotonic() - self.last >= self.every:
            self.flush()

    def flush(self) -> None:
        import hashlib

        with tempfile.TemporaryDirectory(dir=self.ledger.path.parent) as folder:
            copy = Path(folder) / "snapshot.sqlite"
            self.ledger.snapshot(copy)
            data = copy.read_bytes()
        self.store.put(self.bucket, self.key, data, hashlib.sha256(data).hexdigest(), {})
        self.last = time.monotonic()
        self.uploads += 1


def confirmed_copy(item: SourceObject, head: tuple[int, str, dict[str, str]] | None) -> str | None:
    """The recorded SHA-256 when the target object ``head`` is this source object's copy, else None."""
    if head is None:
        return None
    size, _, meta = head
    digest = meta.get(META_SHA, "")
    if size == item.size and meta.get(META_IDENTITY) == item.identity and SHA256_HEX.fullmatch(digest):
        return digest
    return None


def to_probe(items: Sequence[SourceObject], known: dict[str, Entry], probe_all: bool) -> list[SourceObject]:
    """Objects that may be in the store without the ledger saying so: pending in the snapshot
    (confirmed after it was taken, or in flight when the pod died), or any not yet recorded as
    copied when the target held data before the plan was made."""
    chosen = []
    for item in items:
        entry = known.get(item.key)
        same = entry is not None and entry.size == item.size and entry.identity == item.identity
        if same and entry is not None and entry.state in ("copied", "verified"):
            continue
        if probe_all or (same and entry is not None and entry.state == "pending"):
            chosen.append(item)
    return chosen


def recover(
    store: TargetStore, bucket: str, prefix: str, ledger: Ledger, items: Sequence[SourceObject], probe_all: bool
) -> int:
    """Mark copied what the store already holds of ``items`` (see the module docstring, 3)."""
    known = {entry.key: entry for entry in ledger.entries()}
    candidates = to_probe(items, known, probe_all)
    if not candidates:
        return 0
    ledger.upsert_pending(
        [
            (item.key, item.size, item.identity)
            for item in candidates
            if (entry := known.get(item.key)) is None or (entry.size, entry.identity) != (item.size, item.identity)
        ]
    )
    with ThreadPoolExecutor(PROBE_THREADS, thread_name_prefix="pdn-probe") as pool:
        heads = list(
            pool.map(lambda item: store.head_metadata(bucket, copy_stage.target_key(prefix, item.key)), candidates)
        )
    rows = [
        (item.key, digest, head[1])
        for item, head in zip(candidates, heads, strict=True)
        if head is not None and (digest := confirmed_copy(item, head)) is not None
    ]
    ledger.mark_copied_many(rows)
    return len(rows)


@dataclass(frozen=True)
class WorkerConfig:
    index: int
    app_id: str
    ledger_bucket: str
    root: str
    plan_id: str
    bucket: str
    prefix: str
    source: str
    source_endpoint: str
    target_endpoint: str
    target_region: str
    workers: int
    state_dir: Path

    @classmethod
    def from_env(cls, env: dict[str, str]) -> WorkerConfig:
        def need(name: str) -> str:
            value = env.get(name, "")
            if not value:
                raise PdnError(f"environment variable {name} is not set")
            return value

        try:
            index, workers = int(need(jobenv.ENV_INDEX)), int(env.get(jobenv.ENV_WORKERS) or "8")
        except ValueError:
            raise PdnError(f"{jobenv.ENV_INDEX} and {jobenv.ENV_WORKERS} must be integers") from None
        if index < 0 or not 1 <= workers <= 64:
            raise PdnError(f"{jobenv.ENV_INDEX} must be >= 0 and {jobenv.ENV_WORKERS} 1..64")
        return cls(
            index=index,
            app_id=need(jobenv.ENV_APP),
            ledger_bucket=need(jobenv.ENV_LEDGER_BUCKET),
            root=need(jobenv.ENV_ROOT),
            plan_id=need(jobenv.ENV_PLAN),
            bucket=need(jobenv.ENV_BUCKET),
            prefix=env.get(jobenv.ENV_PREFIX, ""),
            source=need(jobenv.ENV_SOURCE),
            source_endpoint=need(jobenv.ENV_SOURCE_ENDPOINT),
            target_endpoint=need(jobenv.ENV_TARGET_ENDPOINT),
            target_region=env.get(jobenv.ENV_TARGET_REGION) or "us-east-1",
            workers=workers,
            state_dir=Path(need(jobenv.ENV_STATE_DIR)),
        )


@dataclass
class ShardResult:
    index: int
    objects: int
    already: int
    recovered: int
    copied: int
    copied_bytes: int
    snapshots: int

    def line(self) -> str:
        return (
            f"shard {self.index}: {self.objects} objects; {self.already} already done, {self.recovered} recovered "
            f"from the store, {self.copied} copied ({self.copied_bytes / 1e6:.1f} MB); "
            f"{self.snapshots} ledger snapshots"
        )


def _fresh_ledger_file(folder: Path, index: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"shard-{index:05d}.sqlite"
    for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        stale.unlink(missing_ok=True)
    return path


def _load_shard(store: TargetStore, config: WorkerConfig) -> tuple[dict[str, Any], list[SourceObject], Path, str]:
    """The plan's manifest (checked against the Job's environment), the shard's objects, the local
    ledger file (the store's snapshot when there is one, else absent) and the snapshot's key."""
    where = f"{config.ledger_bucket}/{shards.plan_key(config.root, config.plan_id)}"
    raw = store.get_small(config.ledger_bucket, shards.plan_key(config.root, config.plan_id), shards.PLAN_FILE_LIMIT)
    if raw is None:
        raise PdnError(f"no copy plan at {where}")
    manifest = shards.parse_manifest(raw, where)
    expected = {"plan": config.plan_id, "bucket": config.bucket, "prefix": config.prefix, "source": config.source}
    for name, value in expected.items():
        if manifest[name] != value:
            raise PdnError(f"{where}: {name} is {manifest[name]!r}, the Job says {value!r}")
    if config.index >= manifest["shards"]:
        raise PdnError(f"shard {config.index} is not in the plan ({manifest['shards']} shards)")
    key = shards.shard_key(config.root, config.plan_id, config.index)
    raw = store.get_small(config.ledger_bucket, key, shards.SHARD_FILE_LIMIT)
    if raw is None:
        raise PdnError(f"no shard file {config.ledger_bucket}/{key}")
    items = shards.parse_shard(raw, f"{config.ledger_bucket}/{key}")
    path = _fresh_ledger_file(config.state_dir, config.index)
    snapshot_key = shards.ledger_key(config.root, config.plan_id, config.index)
    previous = store.get_small(config.ledger_bucket, snapshot_key, LEDGER_LIMIT)
    if previous is not None:
        path.write_bytes(previous)
    return manifest, items, path, snapshot_key


def _target(config: WorkerConfig) -> Endpoint:
    from pdn.migrate.s3 import credentials_from

    keys = credentials_from(None)
    return Endpoint(config.target_endpoint, keys.access_key, keys.secret_key, config.target_region, keys.session_token)


def verify_shard(config: WorkerConfig) -> str:
    """Re-read the shard's copied objects from the target (:func:`pdn.migrate.verify.verify` on the
    shard's ledger) and record the results in its snapshot; returns a line saying what was found.

    Mismatched or missing objects are a finding, not a failure of the pod (a retry would find them
    again): they are in the ledger, which the operator reads back."""
    from pdn.migrate import verify as verify_stage

    with TargetStore(_target(config)) as store:
        _, items, path, snapshot_key = _load_shard(store, config)
        if not path.is_file():
            raise PdnError(f"shard {config.index} has no ledger: it was never copied")
        with Ledger(path) as ledger:
            snapshots = Snapshots(store, config.ledger_bucket, snapshot_key, ledger, copy_stage.FLUSH_SECONDS)
            planned = PlannedSource(None, items, config.source)
            try:
                report = verify_stage.verify(store, config.bucket, config.prefix, ledger, planned, config.workers)
            finally:
                snapshots.flush()
    return (
        f"shard {config.index}: {len(items)} objects; {report.ok} match, {len(report.mismatched)} differ, "
        f"{len(report.missing)} missing ({report.bytes / 1e6:.1f} MB re-read)"
    )


def run_shard(config: WorkerConfig, env: dict[str, str]) -> ShardResult:
    """Copy one shard (see the module docstring); raises PdnError when objects failed."""
    from pdn.migrate.s3 import client, credentials_from

    endpoint = _target(config)
    source_keys = credentials_from(None, prefix="PDN_SOURCE_S3")
    source_client = client(
        Endpoint(
            config.source_endpoint,
            source_keys.access_key,
            source_keys.secret_key,
            session_token=source_keys.session_token,
        ),
        pool=max(config.workers, 10),
    )
    with TargetStore(endpoint) as store:
        manifest, items, path, snapshot_key = _load_shard(store, config)
        with Ledger(path) as ledger:
            recovered = recover(store, config.bucket, config.prefix, ledger, items, bool(manifest.get("probe")))
            snapshots = Snapshots(store, config.ledger_bucket, snapshot_key, ledger, copy_stage.FLUSH_SECONDS)
            large_pending = [
                item.key
                for item in items
                if item.size > copy_stage.SMALL
                and (entry := ledger.get(item.key)) is not None
                and entry.state == "pending"
            ]
            source = PlannedSource(BucketSource(source_client, config.source), items)
            try:
                report = copy_stage.copy(
                    store,
                    source,
                    config.bucket,
                    config.prefix,
                    ledger,
                    config.workers,
                    on_commit=snapshots,
                    stale_keys=large_pending,
                )
            finally:
                snapshots.flush()
    return ShardResult(
        config.index,
        len(items),
        report.skipped - recovered,
        recovered,
        report.copied,
        report.copied_bytes,
        snapshots.uploads,
    )


def _terminate(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)  # unwinds through copy's finally: in-flight objects recorded, snapshot sent


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args not in (["worker"], ["verify"]):
        print("usage: python3 -m pdn.migrate.jobcopy worker|verify", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _terminate)
    env = dict(os.environ)
    try:
        config = WorkerConfig.from_env(env)
        line = run_shard(config, env).line() if args == ["worker"] else verify_shard(config)
    except PdnError as error:
        print(f"error: {error}" + (f" ({error.hint})" if error.hint else ""), file=sys.stderr, flush=True)
        return 1
    print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
