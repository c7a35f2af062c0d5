"""boto3 clients and object sources for ``copy`` and ``verify``.

MinIO and Ceph need path-style addressing and ``when_required`` checksums (newer boto3 sends
CRC checksums by default, which many S3-compatible stores reject or store differently), and a
multipart ETag is not an MD5: our own SHA-256, stored as object metadata and in the ledger, is
the proof of integrity.
"""

from __future__ import annotations

import hashlib
import os
import random
import time
import weakref
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol
from urllib.parse import quote

from pdn.errors import InputError, PdnError

CHUNK = 8 * 1024 * 1024
META_SHA = "sha256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
RETRIED_STATUS = frozenset({500, 502, 503, 504})


@dataclass(frozen=True)
class Endpoint:
    url: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"


CONNECT_TIMEOUT = 5
READ_TIMEOUT = 60


@dataclass(frozen=True)
class _Made:
    """What ``client()`` built a client from: ``DirectS3.for_client`` sends with the same."""

    endpoint: Endpoint
    pool: int
    verify: bool | str


# client -> how it was made. botocore keeps a client's credentials and HTTP session private;
# remembering the inputs here lets DirectS3 build its own from public API instead.
_MADE: weakref.WeakKeyDictionary[Any, _Made] = weakref.WeakKeyDictionary()


def _verify_value(session: Any) -> bool | str:
    """TLS verification as a botocore client resolves it: ``AWS_CA_BUNDLE`` / the config file's
    ``ca_bundle``, else ``REQUESTS_CA_BUNDLE``, else the default trust store."""
    bundle = session.get_config_variable("ca_bundle")
    if bundle:
        return str(bundle)
    return os.environ.get("REQUESTS_CA_BUNDLE") or True


def client(endpoint: Endpoint, pool: int = 16) -> Any:
    """A botocore S3 client (what ``boto3.client`` returns, without importing boto3 and s3transfer,
    which copy does not use: that saves a noticeable part of the CLI's start-up)."""
    from botocore.config import Config
    from botocore.session import Session

    config = Config(
        s3={"addressing_style": "path"},
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        retries={"max_attempts": 10, "mode": "standard"},
        max_pool_connections=pool,
        parameter_validation=False,  # our own calls, fixed shapes: skip per-request validation CPU
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
    )
    session = Session()
    verify = _verify_value(session)
    s3 = session.create_client(
        "s3",
        endpoint_url=endpoint.url,
        aws_access_key_id=endpoint.access_key,
        aws_secret_access_key=endpoint.secret_key,
        region_name=endpoint.region,
        config=config,
        verify=verify,
    )
    _MADE[s3] = _Made(endpoint, pool, verify)
    return s3


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
        """Regular files in sorted order, each folder's files before its sub-folders (as a sorted
        top-down ``os.walk``); symlinks and special files are skipped, unreadable folders too.
        ``scandir`` entries give the file type without a system call: one ``lstat`` per file."""
        yield from self._walk(str(self.root), "")

    def _walk(self, folder: str, key_prefix: str) -> Iterator[SourceObject]:
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError:
            return
        subfolders = []
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                subfolders.append(entry)
            elif entry.is_file(follow_symlinks=False):
                stat = entry.stat(follow_symlinks=False)
                yield SourceObject(key_prefix + entry.name, stat.st_size, str(stat.st_mtime_ns))
        for entry in subfolders:
            yield from self._walk(entry.path, f"{key_prefix}{entry.name}/")

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


class DirectS3:
    """The few hot S3 calls of copy and verify, signed by botocore and sent on an own pool.

    A boto3 call spends about 2 ms of Python per request (events, serialisation, parsing), which
    dominates many small objects on a busy host (docs/benchmarks.md). Here one request is built,
    signed with botocore's SigV4 signer and sent through a botocore ``URLLib3Session`` set up as
    the client sets up its own (same CA bundle, proxies, timeouts, TCP options and pool size),
    at about half that CPU.

    Integrity: the body is signed with the SHA-256 we computed from the source
    (``x-amz-content-sha256``), so the store rejects a PUT whose bytes differ from what we hashed
    (S3 and MinIO answer ``XAmzContentSHA256Mismatch``): a 200 proves the target received exactly
    the bytes of the recorded digest, also over HTTPS where boto3 would send ``UNSIGNED-PAYLOAD``.
    Errors become botocore ``ClientError`` / ``BotoCoreError`` like a boto3 call; connection
    errors and 5xx answers are retried with backoff and a shared retry budget, like the client's
    ``standard`` mode.
    """

    def __init__(self, endpoint: Endpoint, pool: int = 16, verify: bool | str = True, attempts: int = 8) -> None:
        import socket

        from botocore.auth import S3SigV4Auth
        from botocore.credentials import Credentials
        from botocore.httpsession import URLLib3Session
        from botocore.retries.quota import RetryQuota
        from botocore.utils import get_environ_proxies

        class _KnownPayload(S3SigV4Auth):  # type: ignore[misc]
            def payload(self, request: Any) -> str:
                return str(request.context["payload_sha256"])

        self.base = endpoint.url.rstrip("/")
        self.region = endpoint.region or "us-east-1"
        # Credentials are immutable static keys here, so one signer serves every thread: the
        # signer keeps no per-request state (the timestamp is computed inside add_auth).
        self.signer = _KnownPayload(Credentials(endpoint.access_key, endpoint.secret_key), "s3", self.region)
        self.http = URLLib3Session(
            verify=verify,
            proxies=get_environ_proxies(self.base),
            timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
            max_pool_connections=pool,
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],  # botocore's default
        )
        self.attempts = attempts
        # Shared retry budget, as in botocore's "standard" mode: while the store is down, requests
        # stop being retried after a few dozen failures, so a run fails in seconds with a clear
        # error instead of every queued object sleeping through its own backoff.
        self.quota = RetryQuota()

    @classmethod
    def for_client(cls, s3: Any) -> DirectS3:
        """A DirectS3 to the same store, with the same keys, TLS and pool size as ``s3``,
        which must come from ``client()``."""
        made = _MADE.get(s3)
        if made is None:
            raise PdnError(
                "internal: copy and verify need an S3 client made by pdn.migrate.s3.client()",
                hint="build the client with pdn.migrate.s3.client(Endpoint(...))",
            )
        return cls(made.endpoint, made.pool, made.verify)

    def close(self) -> None:
        self.http.close()

    def url(self, bucket: str, key: str) -> str:
        return f"{self.base}/{bucket}/{quote(key, safe='/~')}"

    def send(
        self,
        operation: str,
        method: str,
        url: str,
        body: bytes = b"",
        payload_sha256: str = EMPTY_SHA256,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        stream: bool = False,
    ) -> Any:
        """One signed request with retries; returns the botocore ``AWSResponse`` (2xx only)."""
        from botocore.awsrequest import AWSRequest
        from botocore.exceptions import ConnectionClosedError, EndpointConnectionError, ReadTimeoutError

        spent = 0
        for attempt in range(1, self.attempts + 1):
            request = AWSRequest(
                method=method, url=url, data=body, headers=dict(headers or {}), params=dict(params or {})
            )
            request.stream_output = stream
            request.context["payload_sha256"] = payload_sha256
            self.signer.add_auth(request)
            try:
                response = self.http.send(request.prepare())
            except (EndpointConnectionError, ConnectionClosedError, ReadTimeoutError):
                if attempt == self.attempts or not self.quota.acquire(10):
                    raise
                spent += 10
                _backoff(attempt)
                continue
            if 200 <= response.status_code < 300:
                self.quota.release(spent or 1)
                return response
            content = response.content  # drains the connection back to the pool
            if response.status_code in RETRIED_STATUS and attempt < self.attempts and self.quota.acquire(5):
                spent += 5
                _backoff(attempt)
                continue
            raise _client_error(operation, response.status_code, content)
        raise AssertionError("unreachable")  # pragma: no cover

    def put(self, bucket: str, key: str, data: bytes, sha256: str, metadata: Mapping[str, str]) -> str:
        """PUT a whole object from memory; returns the ETag."""
        headers = {f"x-amz-meta-{name}": value for name, value in metadata.items()}
        response = self.send("PutObject", "PUT", self.url(bucket, key), data, sha256, headers)
        return str(response.headers.get("ETag", "")).strip('"')

    def upload_part(self, bucket: str, key: str, upload_id: str, number: int, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        params = {"partNumber": str(number), "uploadId": upload_id}
        response = self.send("UploadPart", "PUT", self.url(bucket, key), data, digest, params=params)
        return str(response.headers["ETag"])

    def sha256_of_object(self, bucket: str, key: str) -> tuple[str, int]:
        """Stream an object and hash it; returns (sha256, size). ``ClientError`` when absent."""
        response = self.send("GetObject", "GET", self.url(bucket, key), stream=True)
        raw = response.raw
        try:
            digest = hashlib.sha256()
            total = 0
            while chunk := raw.read(CHUNK):
                digest.update(chunk)
                total += len(chunk)
        except BaseException:
            raw.close()
            raise
        raw.release_conn()
        return digest.hexdigest(), total


def _backoff(attempt: int) -> None:
    time.sleep(min(20.0, 0.05 * 2**attempt) * random.uniform(0.5, 1.0))


def _client_error(operation: str, status: int, content: bytes) -> Exception:
    """An S3 error answer as botocore's ``ClientError``, as a boto3 call would raise it."""
    from botocore.exceptions import ClientError

    code, message = str(status), ""
    try:
        root = ElementTree.fromstring(content) if content else None
    except ElementTree.ParseError:
        root = None
    if root is not None:
        code = root.findtext("Code") or code
        message = root.findtext("Message") or ""
    error: Exception = ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}, operation
    )
    return error
