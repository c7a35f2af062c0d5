"""How copy and verify reach an S3 store: endpoint, credentials, TLS settings, boto3 clients.

A multipart ETag is not an MD5: our own SHA-256, stored as object metadata (``META_SHA``) and in
the ledger, is the proof of integrity. boto3 clients (:func:`client`, see :mod:`pdn.s3client`)
read ``s3://`` sources; the target is written through :class:`pdn.migrate.target.TargetStore`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pdn.errors import InputError, PdnError

CHUNK = 8 * 1024 * 1024
META_SHA = "sha256"
META_IDENTITY = "source-identity"  # the source object's mtime_ns or ETag: a re-run recognises its own copy
CONNECT_TIMEOUT = 5
READ_TIMEOUT = 60


@dataclass(frozen=True)
class Endpoint:
    url: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"
    session_token: str | None = None  # temporary credentials (STS): sent as x-amz-security-token

    def __repr__(self) -> str:  # never print the keys
        return f"Endpoint({self.url!r}, region={self.region!r})"


def client(endpoint: Endpoint, pool: int = 16) -> Any:
    """A boto3 S3 client for ``endpoint`` (an ``s3://`` source, tests)."""
    from pdn.s3client import s3_client

    return s3_client(
        endpoint.url,
        endpoint.region,
        endpoint.access_key,
        endpoint.secret_key,
        session_token=endpoint.session_token,
        attempts=10,
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        pool=pool,
    )


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str
    session_token: str | None = None

    def __repr__(self) -> str:
        return "Credentials(***)"


def credentials_from(path: Path | None, prefix: str = "PDN_S3") -> Credentials:
    """Keys from a file outside the repo (``KEY=VALUE`` lines) or the environment.

    File: ``access_key=`` / ``secret_key=`` (or ``aws_access_key_id=`` / ``aws_secret_access_key=``)
    and, for temporary credentials, ``session_token=`` (or ``aws_session_token=``). Environment:
    ``<prefix>_ACCESS_KEY`` / ``_SECRET_KEY`` / ``_SESSION_TOKEN``, else ``AWS_ACCESS_KEY_ID`` /
    ``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN`` (the token only with keys of the same family).
    """
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
        token = values.get("session_token") or values.get("aws_session_token") or None
        if access and secret:
            return Credentials(access, secret, token)
        raise InputError(f"{path} needs access_key=... and secret_key=... lines")
    own = os.environ.get(f"{prefix}_ACCESS_KEY"), os.environ.get(f"{prefix}_SECRET_KEY")
    if own[0] and own[1]:
        return Credentials(own[0], own[1], os.environ.get(f"{prefix}_SESSION_TOKEN") or None)
    aws = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    if aws[0] and aws[1]:
        return Credentials(aws[0], aws[1], os.environ.get("AWS_SESSION_TOKEN") or None)
    raise InputError(
        "no S3 credentials",
        hint=f"pass --credentials FILE (access_key=/secret_key= lines) "
        f"or set {prefix}_ACCESS_KEY and {prefix}_SECRET_KEY",
    )


def ensure_bucket(s3: Any, bucket: str) -> None:
    """Create ``bucket`` with a boto3 client unless it exists (sources and tests)."""
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
