"""The partner's object store as the drill sees it: reachability, usage, immutability, Velero's results.

Backups of site S live in bucket ``pdn-backup-S`` on each partner's S3 store (the stacks create
it with versioning and a default object-lock retention).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from pdn import naming
from pdn.errors import PdnError
from pdn.lab import endpoints
from pdn.s3client import s3_client

PREFIX = "velero"


def bucket_name(source_site: str) -> str:
    """Bucket on a partner's store that receives ``source_site``'s backups (the stacks' naming)."""
    return naming.backup_bucket(source_site)


def client(site_id: str, fast: bool = False) -> Any:
    """boto3 S3 client for the site's lab MinIO; ``fast`` fails within seconds when it is down."""
    access, secret = endpoints.s3_credentials(site_id)
    return s3_client(
        endpoints.s3_endpoint(site_id),
        endpoints.s3_region(site_id),
        access,
        secret,
        attempts=1 if fast else 4,
        connect_timeout=2 if fast else 10,
        read_timeout=5 if fast else 60,
    )


def error_code(error: Exception) -> str:
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", type(error).__name__))
    return type(error).__name__


def error_text(error: Exception) -> str:
    """``Code: message`` of an S3 error (the message says *why*, e.g. WORM protection)."""
    response = getattr(error, "response", None)
    if isinstance(response, dict) and response.get("Error", {}).get("Message"):
        return f"{error_code(error)}: {response['Error']['Message']}"
    return error_code(error)


def check_bucket(store_site: str, bucket: str) -> None:
    """Fail with one clear line unless ``store_site``'s MinIO answers and holds a locked ``bucket``."""
    endpoint = endpoints.s3_endpoint(store_site)
    s3 = client(store_site, fast=True)
    try:
        s3.head_bucket(Bucket=bucket)
        lock = s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
    except Exception as error:
        code = error_code(error)
        if code in ("404", "NoSuchBucket"):
            raise PdnError(
                f"bucket {bucket} does not exist on {store_site}'s object store {endpoint}",
                hint=f"pdn stacks up --lab --site {bucket.removeprefix('pdn-backup-')}",
            ) from None
        raise PdnError(
            f"{store_site}'s object store at {endpoint} is unreachable ({code}); nothing was changed",
            hint=f"start it (pdn lab up --site {store_site}) and re-run the drill",
        ) from None
    if lock.get("ObjectLockEnabled") != "Enabled":
        raise PdnError(f"bucket {bucket} on {store_site} ({endpoint}) has no object lock: backups are not immutable")


@dataclass(frozen=True)
class Usage:
    bytes: int
    versions: int
    current_objects: int


def usage(store_site: str, bucket: str) -> Usage:
    """Bytes stored in ``bucket`` (every version, what the store actually keeps)."""
    s3 = client(store_site, fast=True)
    total = versions = current = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for version in page.get("Versions", []):
            total += int(version.get("Size", 0))
            versions += 1
            current += 1 if version.get("IsLatest") else 0
    return Usage(total, versions, current)


def archive_key(backup: str) -> str:
    return f"{PREFIX}/backups/{backup}/{backup}.tar.gz"


def _sha256(s3: Any, bucket: str, key: str, version: str) -> str:
    body = s3.get_object(Bucket=bucket, Key=key, VersionId=version)["Body"].read()
    return hashlib.sha256(body).hexdigest()


@dataclass
class Immutability:
    lock: str  # e.g. "GOVERNANCE until 2026-11-29T12:00:00+00:00 on version …"
    outcomes: dict[str, str]


def prove_immutable(store_site: str, bucket: str, key: str) -> Immutability:
    """Try to delete and to overwrite the locked current version of ``key``; record what happened.

    A refused delete and an untouched original (same SHA-256) prove the lock. The overwrite leaves
    a newer version behind, so the original bytes are copied back on top: restores keep working,
    and the attempt stays visible as a noncurrent version until the lifecycle expires it.
    """
    s3 = client(store_site)
    head = s3.head_object(Bucket=bucket, Key=key)
    version = str(head.get("VersionId"))
    mode = head.get("ObjectLockMode")
    until = head.get("ObjectLockRetainUntilDate")
    lock = f"{mode} until {until.isoformat() if until else '?'} (version {version})" if mode else "none"
    before = _sha256(s3, bucket, key, version)
    outcomes: dict[str, str] = {}
    try:
        s3.delete_object(Bucket=bucket, Key=key, VersionId=version)
        outcomes["delete the locked version"] = f"DELETED: version {version} of {key} could be removed"
    except Exception as error:
        outcomes["delete the locked version"] = f"refused ({error_text(error)})"
    payload = b"pdn backup drill: overwrite attempt\n"
    md5 = base64.b64encode(hashlib.md5(payload, usedforsecurity=False).digest()).decode()
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=payload, ContentMD5=md5)
        wrote = "a newer version was written"
    except Exception as error:
        wrote = f"the write was refused ({error_text(error)})"
    try:
        after = _sha256(s3, bucket, key, version)
    except Exception as error:
        after = f"unreadable ({error_code(error)})"
    if after == before:
        outcomes["overwrite the archive"] = f"intact: {wrote}; locked version keeps sha256 {before[:16]}…"
    else:
        outcomes["overwrite the archive"] = f"CHANGED: sha256 {before[:16]}… became {after[:16]}…"
    current = s3.head_object(Bucket=bucket, Key=key)
    if current.get("VersionId") != version:
        s3.copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": key, "VersionId": version})
    return Immutability(lock, outcomes)


def kopia_blob(store_site: str, bucket: str, namespace: str) -> str | None:
    """One data (pack) blob of the Kopia repository Velero keeps for ``namespace``'s volumes in the
    bucket (``velero/kopia/<namespace>/p…``), or None when it holds none."""
    listing = client(store_site).list_objects_v2(Bucket=bucket, Prefix=f"{PREFIX}/kopia/{namespace}/", MaxKeys=1000)
    packs = sorted(item["Key"] for item in listing.get("Contents") or [] if item["Key"].rsplit("/", 1)[-1][:1] == "p")
    return packs[0] if packs else None


def restore_results(store_site: str, bucket: str, restore: str) -> dict[str, Any]:
    """Velero's per-restore warnings and errors (``restore-<name>-results.gz``), or ``{}``."""
    key = f"{PREFIX}/restores/{restore}/restore-{restore}-results.gz"
    try:
        body = client(store_site).get_object(Bucket=bucket, Key=key)["Body"].read()
        results: dict[str, Any] = json.loads(gzip.decompress(body))
    except Exception:
        return {}
    return results


def flatten_results(results: dict[str, Any], section: str) -> list[str]:
    """``warnings``/``errors`` of Velero's results as ``scope: message`` lines."""
    part = results.get(section) or {}
    lines = [f"velero: {message}" for message in part.get("velero") or []]
    lines += [f"cluster: {message}" for message in part.get("cluster") or []]
    for namespace, messages in sorted((part.get("namespaces") or {}).items()):
        lines += [f"{namespace}: {message}" for message in messages]
    return lines
