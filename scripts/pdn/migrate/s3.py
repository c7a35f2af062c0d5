"""The target store of ``copy`` and ``verify`` (:class:`DirectS3`), their sources, and boto3 clients.

A multipart ETag is not an MD5: our own SHA-256, stored as object metadata and in the ledger,
is the proof of integrity. boto3 clients (:func:`client`, see :mod:`pdn.s3client`) read
``s3://`` sources; the target is written through :class:`DirectS3`.
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
from urllib.parse import quote, urlsplit
from xml.sax.saxutils import escape

from pdn.errors import InputError, PdnError

CHUNK = 8 * 1024 * 1024
META_SHA = "sha256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
RETRIED_STATUS = frozenset({500, 502, 503, 504})
S3_XMLNS = "http://s3.amazonaws.com/doc/2006-03-01/"


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


def tls_verify() -> bool | str:
    """TLS verification for DirectS3, resolved as ``client()`` resolves it (``_verify_value``).

    botocore's session costs about 0.16 s to build, so it is only asked when a config file
    exists that could name a ``ca_bundle``; otherwise the environment decides.
    """
    if os.environ.get("AWS_CA_BUNDLE"):
        return os.environ["AWS_CA_BUNDLE"]
    if Path(os.environ.get("AWS_CONFIG_FILE", "~/.aws/config")).expanduser().is_file():
        from botocore.session import Session

        return _verify_value(Session())
    return os.environ.get("REQUESTS_CA_BUNDLE") or True


def client(endpoint: Endpoint, pool: int = 16) -> Any:
    """A boto3 S3 client for ``endpoint`` (an ``s3://`` source, tests); ``DirectS3.for_client``
    builds a DirectS3 with the same keys and TLS settings from it."""
    from pdn.s3client import s3_client

    s3 = s3_client(
        endpoint.url,
        endpoint.region,
        endpoint.access_key,
        endpoint.secret_key,
        attempts=10,
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        pool=pool,
    )
    _MADE[s3] = _Made(endpoint, tls_verify())
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
    """The few hot S3 calls of copy and verify, signed and sent without the botocore client.

    A boto3 call costs about 2 ms of client CPU per small object (events, serialisation, its
    signer, the pooled urllib3 session, parsing); on a host whose cores the object store shares,
    that CPU is throughput. Here a request is signed by :class:`~pdn.migrate.sigv4.SigV4` (checked
    against botocore's signer in the tests) and sent on the worker thread's own keep-alive
    connection (:mod:`pdn.migrate.transport`): about 0.9 ms per 128 KiB PUT.

    Integrity: the body is signed with the SHA-256 we computed from the source
    (``x-amz-content-sha256``), so the store rejects a PUT whose bytes differ from what we hashed
    (S3 and MinIO answer ``XAmzContentSHA256Mismatch``): a 200 proves the target received exactly
    the bytes of the recorded digest, also over HTTPS where boto3 would send ``UNSIGNED-PAYLOAD``.
    Errors become botocore ``ClientError`` / ``EndpointConnectionError`` like a boto3 call;
    connection errors and 5xx answers are retried with backoff and a shared retry budget, like
    the client's ``standard`` mode.
    """

    def __init__(self, endpoint: Endpoint, verify: bool | str = True, attempts: int = 8) -> None:
        from botocore.retries.quota import RetryQuota

        from pdn.migrate.sigv4 import SigV4
        from pdn.migrate.transport import Connections

        self.base = endpoint.url.rstrip("/")
        self.prefix = urlsplit(self.base).path  # an endpoint may live under a path
        self.region = endpoint.region or "us-east-1"
        self.signer = SigV4(endpoint.access_key, endpoint.secret_key, self.region)
        self.http = Connections(self.base, verify, CONNECT_TIMEOUT, READ_TIMEOUT)
        self.attempts = attempts
        # Shared retry budget, as in botocore's "standard" mode: while the store is down, requests
        # stop being retried after a few dozen failures, so a run fails in seconds with a clear
        # error instead of every queued object sleeping through its own backoff.
        self.quota = RetryQuota()

    @classmethod
    def for_client(cls, s3: Any) -> DirectS3:
        """A DirectS3 to the same store, with the same keys and TLS settings as ``s3``,
        which must come from ``client()``."""
        made = _MADE.get(s3)
        if made is None:
            raise PdnError(
                "internal: copy and verify need an S3 client made by pdn.migrate.s3.client()",
                hint="build the client with pdn.migrate.s3.client(Endpoint(...))",
            )
        return cls(made.endpoint, made.verify)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> DirectS3:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def bucket_path(self, bucket: str) -> str:
        """The URI-encoded path of a bucket (path-style addressing)."""
        return f"{self.prefix}/{quote(bucket)}"

    def path(self, bucket: str, key: str) -> str:
        """The URI-encoded path of an object."""
        return f"{self.bucket_path(bucket)}/{quote(key, safe='/~')}"

    def send(
        self,
        operation: str,
        method: str,
        path: str,
        body: bytes = b"",
        payload_sha256: str = EMPTY_SHA256,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        stream: bool = False,
    ) -> Any:
        """One signed request with retries; returns the 2xx answer (an ``Answer``, or the open
        ``HTTPResponse`` when ``stream``, to be read to its end)."""
        from ssl import SSLCertVerificationError

        from botocore.exceptions import EndpointConnectionError, SSLError

        from pdn.migrate.sigv4 import canonical_query
        from pdn.migrate.transport import TRANSIENT, Answer

        query = canonical_query(params) if params else ""
        target = f"{path}?{query}" if query else path
        spent = 0
        for attempt in range(1, self.attempts + 1):
            signed = self.signer.headers(method, self.http.host_header, path, query, headers or {}, payload_sha256)
            try:
                response = self.http.request(method, target, signed, body, stream)
            except SSLCertVerificationError as error:  # will not heal by retrying
                raise SSLError(endpoint_url=self.base, error=error) from error
            except TRANSIENT as error:
                if attempt == self.attempts or not self.quota.acquire(10):
                    raise EndpointConnectionError(endpoint_url=self.base + target, error=error) from error
                spent += 10
                _backoff(attempt)
                continue
            if 200 <= response.status < 300:
                self.quota.release(spent or 1)
                return response
            assert isinstance(response, Answer)  # only 2xx answers are streamed
            if response.status in RETRIED_STATUS and attempt < self.attempts and self.quota.acquire(5):
                spent += 5
                _backoff(attempt)
                continue
            raise _client_error(operation, response.status, response.content)
        raise AssertionError("unreachable")  # pragma: no cover

    def put(self, bucket: str, key: str, data: bytes, sha256: str, metadata: Mapping[str, str]) -> str:
        """PUT a whole object from memory; returns the ETag."""
        response = self.send("PutObject", "PUT", self.path(bucket, key), data, sha256, _meta_headers(metadata))
        return str(response.headers.get("ETag", "")).strip('"')

    def upload_part(self, bucket: str, key: str, upload_id: str, number: int, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        params = {"partNumber": str(number), "uploadId": upload_id}
        response = self.send("UploadPart", "PUT", self.path(bucket, key), data, digest, params=params)
        return str(response.headers["ETag"])

    def bucket_exists(self, bucket: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.send("HeadBucket", "HEAD", self.bucket_path(bucket))
        except ClientError as error:
            if error.response["ResponseMetadata"]["HTTPStatusCode"] == 404:
                return False
            raise
        return True

    def ensure_bucket(self, bucket: str) -> None:
        """Create the bucket unless it exists (in the endpoint's region)."""
        from botocore.exceptions import ClientError

        if self.bucket_exists(bucket):
            return
        body = b""
        if self.region != "us-east-1":
            body = (
                f'<CreateBucketConfiguration xmlns="{S3_XMLNS}">'
                f"<LocationConstraint>{escape(self.region)}</LocationConstraint></CreateBucketConfiguration>"
            ).encode()
        try:
            self.send("CreateBucket", "PUT", self.bucket_path(bucket), body, hashlib.sha256(body).hexdigest())
        except ClientError as error:
            if error.response["Error"]["Code"] != "BucketAlreadyOwnedByYou":  # created meanwhile by us
                raise

    def uploads(self, bucket: str, prefix: str) -> Iterator[tuple[str, str]]:
        """(key, upload id) of every unfinished multipart upload under ``prefix``."""
        params = {"uploads": "", "prefix": prefix}
        while True:
            answer = self.send("ListMultipartUploads", "GET", self.bucket_path(bucket), params=params)
            root = _xml(answer.content)
            for upload in root.iter("Upload"):
                yield upload.findtext("Key", ""), upload.findtext("UploadId", "")
            if root.findtext("IsTruncated") != "true":
                return
            params = {
                **params,
                "key-marker": root.findtext("NextKeyMarker", ""),
                "upload-id-marker": root.findtext("NextUploadIdMarker", ""),
            }

    def abort_upload(self, bucket: str, key: str, upload_id: str) -> None:
        self.send("AbortMultipartUpload", "DELETE", self.path(bucket, key), params={"uploadId": upload_id})

    def create_upload(self, bucket: str, key: str, metadata: Mapping[str, str]) -> str:
        """Start a multipart upload; returns its id."""
        path, headers = self.path(bucket, key), _meta_headers(metadata)
        answer = self.send("CreateMultipartUpload", "POST", path, headers=headers, params={"uploads": ""})
        upload_id = _xml(answer.content).findtext("UploadId")
        if not upload_id:
            raise _client_error("CreateMultipartUpload", answer.status, answer.content)
        return upload_id

    def complete_upload(self, bucket: str, key: str, upload_id: str, etags: list[str]) -> None:
        parts = "".join(
            f"<Part><PartNumber>{number}</PartNumber><ETag>{escape(etag)}</ETag></Part>"
            for number, etag in enumerate(etags, 1)
        )
        body = f'<CompleteMultipartUpload xmlns="{S3_XMLNS}">{parts}</CompleteMultipartUpload>'.encode()
        path, params = self.path(bucket, key), {"uploadId": upload_id}
        answer = self.send(
            "CompleteMultipartUpload", "POST", path, body, hashlib.sha256(body).hexdigest(), params=params
        )
        # S3 may answer 200 and still fail the completion: the error is then in the body.
        if _xml(answer.content).tag == "Error":
            raise _client_error("CompleteMultipartUpload", answer.status, answer.content)

    def head(self, bucket: str, key: str) -> tuple[int, str]:
        """(size, ETag) of an object. ``ClientError`` when absent."""
        answer = self.send("HeadObject", "HEAD", self.path(bucket, key))
        return int(answer.headers.get("Content-Length", "-1")), str(answer.headers.get("ETag", "")).strip('"')

    def sha256_of_object(self, bucket: str, key: str) -> tuple[str, int]:
        """Stream an object and hash it; returns (sha256, size). ``ClientError`` when absent."""
        response = self.send("GetObject", "GET", self.path(bucket, key), stream=True)
        try:
            digest = hashlib.sha256()
            total = 0
            while chunk := response.read(CHUNK):
                digest.update(chunk)
                total += len(chunk)
        except BaseException:
            self.http.drop()  # the answer was cut short: the connection cannot be reused
            raise
        expected = response.getheader("Content-Length")
        if expected is not None and int(expected) != total:
            self.http.drop()
            raise PdnError(f"GET {bucket}/{key}: {total} of {expected} bytes arrived")
        return digest.hexdigest(), total


def _meta_headers(metadata: Mapping[str, str]) -> dict[str, str]:
    """User metadata as S3 request headers."""
    return {f"x-amz-meta-{name}": value for name, value in metadata.items()}


def _xml(content: bytes) -> ElementTree.Element:
    """An S3 XML answer with the namespace taken off every tag (S3 and MinIO differ in using one)."""
    root = ElementTree.fromstring(content)
    for element in root.iter():
        element.tag = element.tag.rpartition("}")[2]
    return root


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
