"""boto3 clients and object sources for ``copy`` and ``verify``.

MinIO and Ceph need path-style addressing and ``when_required`` checksums (newer boto3 sends
CRC checksums by default, which many S3-compatible stores reject or store differently), and a
multipart ETag is not an MD5: our own SHA-256, stored as object metadata and in the ledger, is
the proof of integrity.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from pdn.errors import InputError, PdnError

CHUNK = 8 * 1024 * 1024
META_SHA = "sha256"


@dataclass(frozen=True)
class Endpoint:
    url: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"


def client(endpoint: Endpoint, pool: int = 16) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(
        s3={"addressing_style": "path"},
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        retries={"max_attempts": 10, "mode": "standard"},
        max_pool_connections=pool,
        parameter_validation=False,  # our own calls, fixed shapes: skip per-request validation CPU
        connect_timeout=5,
        read_timeout=60,
    )
    return boto3.client(
        "s3",
        endpoint_url=endpoint.url,
        aws_access_key_id=endpoint.access_key,
        aws_secret_access_key=endpoint.secret_key,
        region_name=endpoint.region,
        config=config,
    )


def credentials_from(path: Path | None, prefix: str = "PDN_S3") -> tuple[str, str]:
    """Access and secret key from a file outside the repo (``KEY=VALUE`` lines) or the environment."""
    if path is not None:
        values: dict[str, str] = {}
        try:
            for line in path.read_text(encoding="utf-8").splitlines():
                if "=" in line and not line.lstrip().startswith("#"):
                    name, value = line.split("=", 1)
                    values[name.strip().lower()] = value.strip()
        except OSError as error:
            raise InputError(f"cannot read credentials {path}: {error}") from None
        access = values.get("access_key") or values.get("aws_access_key_id")
        secret = values.get("secret_key") or values.get("aws_secret_access_key")
        if access and secret:
            return access, secret
        raise InputError(f"{path} needs access_key=... and secret_key=... lines")
    access = os.environ.get(f"{prefix}_ACCESS_KEY") or os.environ.get("AWS_ACCESS_KEY_ID")
    secret = os.environ.get(f"{prefix}_SECRET_KEY") or os.environ.get("AWS_SECRET_ACCESS_KEY")
    if not (access and secret):
        raise InputError(
            "no S3 credentials",
            hint=f"pass --credentials FILE (access_key=/secret_key= lines) "
            f"or set {prefix}_ACCESS_KEY and {prefix}_SECRET_KEY",
        )
    return access, secret


@dataclass(frozen=True, slots=True)
class SourceObject:
    key: str
    size: int
    identity: str


class Source(Protocol):
    description: str

    def list(self) -> Iterator[SourceObject]: ...

    def open(self, key: str) -> IO[bytes]: ...


class DirectorySource:
    """A directory tree; keys are POSIX relative paths; identity is size + mtime_ns."""

    def __init__(self, root: Path) -> None:
        if not root.is_dir():
            raise InputError(f"source {root} is not a directory")
        self.root = root
        self.description = str(root)

    def list(self) -> Iterator[SourceObject]:
        for folder, dirs, files in os.walk(self.root):
            dirs.sort()
            for name in sorted(files):
                path = Path(folder) / name
                if path.is_symlink() or not path.is_file():
                    continue
                stat = path.stat()
                yield SourceObject(path.relative_to(self.root).as_posix(), stat.st_size, str(stat.st_mtime_ns))

    def open(self, key: str) -> IO[bytes]:
        return (self.root / key).open("rb")

    def identity(self, key: str) -> str:
        return str((self.root / key).stat().st_mtime_ns)


class BucketSource:
    """An S3 bucket (``s3://bucket/prefix``) on the legacy store; identity is the ETag."""

    def __init__(self, s3: Any, url: str) -> None:
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        if not bucket:
            raise InputError(f"source {url!r} must look like s3://bucket/prefix")
        self.s3, self.bucket, self.prefix = s3, bucket, prefix
        self.description = url

    def list(self) -> Iterator[SourceObject]:
        paginator = self.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
            for item in page.get("Contents", []):
                key = item["Key"][len(self.prefix) :].lstrip("/")
                yield SourceObject(key, int(item["Size"]), str(item["ETag"]).strip('"'))

    def open(self, key: str) -> IO[bytes]:
        full = f"{self.prefix.rstrip('/')}/{key}" if self.prefix else key
        body: IO[bytes] = self.s3.get_object(Bucket=self.bucket, Key=full)["Body"]
        return body

    def identity(self, key: str) -> str:
        full = f"{self.prefix.rstrip('/')}/{key}" if self.prefix else key
        return str(self.s3.head_object(Bucket=self.bucket, Key=full)["ETag"]).strip('"')


def sha256_of(stream: IO[bytes]) -> tuple[str, int]:
    digest = hashlib.sha256()
    total = 0
    while chunk := stream.read(CHUNK):
        digest.update(chunk)
        total += len(chunk)
    return digest.hexdigest(), total


def ensure_bucket(s3: Any, bucket: str) -> None:
    from botocore.exceptions import ClientError

    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code not in ("404", "NoSuchBucket", "NotFound"):
            raise
        region = s3.meta.region_name
        if region and region != "us-east-1":
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
        else:
            s3.create_bucket(Bucket=bucket)


@contextmanager
def friendly_errors(what: str) -> Iterator[None]:
    """S3 and connection failures become one clear line (PdnError) instead of a traceback."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as error:
        info = error.response.get("Error", {})
        raise PdnError(
            f"{what}: S3 said {info.get('Code', '?')}: {info.get('Message', '')}",
            hint="check --endpoint, --site and the credentials",
        ) from None
    except BotoCoreError as error:
        raise PdnError(f"{what}: {error}", hint="is the object store reachable? check --endpoint") from None
