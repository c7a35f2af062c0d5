"""``pdn migrate copy``: move an app's data to its site's object store, resumably.

1. List the source (directory tree or ``s3://bucket/prefix``) and compare with the ledger:
   objects already copied with the same size and identity (mtime or ETag) are skipped.
2. Copy the rest in parallel. Small objects are read once (SHA-256 and PUT from the same
   bytes); large ones are hashed, then sent as a multipart upload. The SHA-256 goes into the
   object's metadata and the ledger; a row becomes ``copied`` only after the store confirmed it.
3. Stale multipart uploads left by a killed run are aborted first, so nothing half-written
   lingers. Re-running after a kill finishes the job.
"""

from __future__ import annotations

import hashlib
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from pdn.errors import InputError, PdnError
from pdn.migrate.ledger import Ledger
from pdn.migrate.s3 import META_SHA, DirectorySource, Source, SourceObject, ensure_bucket, sha256_of

SMALL = 16 * 1024 * 1024


@dataclass
class CopyReport:
    listed: int = 0
    listed_bytes: int = 0
    skipped: int = 0
    copied: int = 0
    copied_bytes: int = 0
    aborted_uploads: int = 0
    dry_run: bool = False


def plan_work(source: Source, ledger: Ledger) -> tuple[list[SourceObject], CopyReport]:
    """Objects that still need copying (new, changed, or not confirmed) and the counts."""
    report = CopyReport()
    todo: list[SourceObject] = []
    for item in source.list():
        report.listed += 1
        report.listed_bytes += item.size
        entry = ledger.get(item.key)
        if (
            entry
            and entry.state in ("copied", "verified")
            and entry.size == item.size
            and entry.identity == item.identity
        ):
            report.skipped += 1
        else:
            todo.append(item)
    return todo, report


def abort_stale_uploads(s3: Any, bucket: str, prefix: str) -> int:
    count = 0
    paginator = s3.get_paginator("list_multipart_uploads")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for upload in page.get("Uploads", []) or []:
            s3.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
            count += 1
    return count


def _target_key(prefix: str, key: str) -> str:
    return f"{prefix.rstrip('/')}/{key}" if prefix else key


def copy_one(s3: Any, source: Source, item: SourceObject, bucket: str, prefix: str, transfer: Any) -> tuple[str, str]:
    """Copy one object; returns (sha256, etag). Raises when the source changed meanwhile."""
    key = _target_key(prefix, item.key)
    if item.size <= SMALL:
        with source.open(item.key) as handle:
            data = handle.read()
        if len(data) != item.size:
            raise RuntimeError(f"{item.key} changed size while copying ({item.size} -> {len(data)})")
        digest = hashlib.sha256(data).hexdigest()
        answer = s3.put_object(Bucket=bucket, Key=key, Body=data, Metadata={META_SHA: digest})
        return digest, str(answer.get("ETag", "")).strip('"')
    if isinstance(source, DirectorySource):
        path = source.root / item.key
        with path.open("rb") as handle:
            digest, size = sha256_of(handle)
        if size != item.size:
            raise RuntimeError(f"{item.key} changed size while copying")
        s3.upload_file(str(path), bucket, key, ExtraArgs={"Metadata": {META_SHA: digest}}, Config=transfer)
    else:  # spool the remote object once, hashing it on the way
        with tempfile.TemporaryFile() as spool, source.open(item.key) as remote:
            hasher = hashlib.sha256()
            while chunk := remote.read(8 * 1024 * 1024):
                hasher.update(chunk)
                spool.write(chunk)
            digest = hasher.hexdigest()
            spool.seek(0)
            s3.upload_fileobj(spool, bucket, key, ExtraArgs={"Metadata": {META_SHA: digest}}, Config=transfer)
    head = s3.head_object(Bucket=bucket, Key=key)
    if int(head["ContentLength"]) != item.size:
        raise RuntimeError(f"{item.key}: target has {head['ContentLength']} bytes, source {item.size}")
    return digest, str(head.get("ETag", "")).strip('"')


def copy(
    s3: Any,
    source: Source,
    bucket: str,
    prefix: str,
    ledger: Ledger,
    workers: int = 16,
    dry_run: bool = False,
    progress: Callable[[int], None] | None = None,
    total: Callable[[int], None] | None = None,
) -> CopyReport:
    target = f"{s3.meta.endpoint_url}/{bucket}/{prefix}"
    recorded = ledger.meta().get("target")
    if recorded and recorded != target:
        raise InputError(
            f"ledger {ledger.path} records copies to {recorded}, not {target}",
            hint="use another --out for another target, or remove that ledger to start over",
        )
    todo, report = plan_work(source, ledger)
    report.dry_run = dry_run
    if total:
        total(sum(item.size for item in todo))
    if dry_run:
        report.copied = len(todo)
        report.copied_bytes = sum(item.size for item in todo)
        return report
    ensure_bucket(s3, bucket)
    report.aborted_uploads = abort_stale_uploads(s3, bucket, prefix)
    ledger.set_meta(source=source.description, bucket=bucket, prefix=prefix, target=target)
    ledger.upsert_pending(
        [
            (item.key, item.size, item.identity)
            for item in todo
            if (entry := ledger.get(item.key)) is None
            or entry.state != "pending"
            or entry.size != item.size
            or entry.identity != item.identity
        ]
    )
    # Many threads wait on sockets and take the GIL for short bursts: a shorter switch interval
    # cuts the time a finished request waits for its thread to run again (measured: see
    # docs/benchmarks.md). Restored on exit.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(0.0005)
    try:
        _copy_all(s3, source, bucket, prefix, ledger, todo, report, workers, progress)
    finally:
        sys.setswitchinterval(interval)
    return report


def _copy_all(
    s3: Any,
    source: Source,
    bucket: str,
    prefix: str,
    ledger: Ledger,
    todo: list[SourceObject],
    report: CopyReport,
    workers: int,
    progress: Callable[[int], None] | None,
) -> None:
    from boto3.s3.transfer import TransferConfig

    transfer = TransferConfig(multipart_threshold=SMALL, multipart_chunksize=SMALL, max_concurrency=4)
    errors: list[str] = []
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pdn-copy") as pool:
        pending: dict[Future[tuple[str, str]], SourceObject] = {}
        queue = iter(todo)
        for item in queue:
            pending[pool.submit(copy_one, s3, source, item, bucket, prefix, transfer)] = item
            if len(pending) >= workers * 2:
                break
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                item = pending.pop(future)
                try:
                    digest, etag = future.result()
                except Exception as error:  # collected: one bad object must not stop the rest
                    errors.append(f"{item.key}: {type(error).__name__}: {error}")
                else:
                    ledger.mark_copied(item.key, digest, etag)
                    report.copied += 1
                    report.copied_bytes += item.size
                if progress:
                    progress(item.size)
                nxt = next(queue, None)
                if nxt is not None:
                    pending[pool.submit(copy_one, s3, source, nxt, bucket, prefix, transfer)] = nxt
    if errors:
        shown = "\n  ".join(errors[:10])
        raise PdnError(
            f"{len(errors)} objects failed (the others are recorded):\n  {shown}",
            hint="re-run the same command: copied objects are skipped, failed ones retried",
        )
