"""``pdn migrate verify``: re-read every object from the target and prove it matches.

Each object recorded by ``copy`` is downloaded again from the target store and hashed; the
SHA-256 must equal the one taken from the source, and the size must match. Objects of the
source that the ledger does not know (never copied) are reported as missing, and the entries
copy skipped (symbolic links, special files: recorded in the ledger) as not verified.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from pdn.migrate.ledger import Entry, Ledger
from pdn.migrate.sources import Source
from pdn.migrate.target import TargetStore

FLUSH_ROWS = 256  # results per ledger commit, or at least once a second
FLUSH_SECONDS = 1.0


@dataclass
class VerifyReport:
    checked: int = 0
    bytes: int = 0
    ok: int = 0
    mismatched: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    # source entries copy skipped (links, special files...): never verified, so never "all match"
    not_verified: list[str] = field(default_factory=list)


def _check(direct: TargetStore, bucket: str, prefix: str, entry: Entry) -> tuple[Entry, str, int]:
    from botocore.exceptions import ClientError

    key = f"{prefix.rstrip('/')}/{entry.key}" if prefix else entry.key
    try:
        digest, size = direct.sha256_of_object(bucket, key)
    except ClientError as error:
        if error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") != 404:
            raise
        return entry, f"absent ({error.response.get('Error', {}).get('Code', '?')})", 0
    return entry, digest, size


def verify(
    target: TargetStore,
    bucket: str,
    prefix: str,
    ledger: Ledger,
    source: Source | None = None,
    workers: int = 16,
    progress: Callable[[int], None] | None = None,
    total: Callable[[int], None] | None = None,
) -> VerifyReport:
    report = VerifyReport()
    entries = list(ledger.entries())
    if source is not None:
        known = {(e.key, e.size, e.identity) for e in entries if e.state in ("copied", "verified", "mismatch")}
        report.missing = sorted(item.key for item in source.list() if (item.key, item.size, item.identity) not in known)
    skipped = dict(ledger.skipped()) | dict(source.skipped if source is not None else [])
    report.not_verified = [f"{key} ({reason})" for key, reason in sorted(skipped.items())]
    checkable = [e for e in entries if e.state in ("copied", "verified", "mismatch")]
    report.missing += sorted(e.key for e in entries if e.state == "pending" and e.key not in report.missing)
    if total:
        total(sum(e.size for e in checkable))
    rows: list[tuple[str, str, bool]] = []
    flushed = time.monotonic()
    try:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pdn-verify") as pool:
            for entry, digest, size in pool.map(lambda e: _check(target, bucket, prefix, e), checkable):
                ok = digest == entry.sha256 and size == entry.size
                rows.append((entry.key, digest, ok))
                report.checked += 1
                report.bytes += size
                if ok:
                    report.ok += 1
                else:
                    report.mismatched.append(entry.key)
                if progress:
                    progress(entry.size)
                if len(rows) >= FLUSH_ROWS or time.monotonic() - flushed >= FLUSH_SECONDS:
                    ledger.mark_verified_many(rows)
                    rows.clear()
                    flushed = time.monotonic()
    finally:
        ledger.mark_verified_many(rows)
    return report
