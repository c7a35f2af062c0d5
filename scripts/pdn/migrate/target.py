"""The target store of ``copy`` and ``verify``: the few S3 calls they make, with retries.

Integrity: every request's body is signed with a SHA-256 that we computed
(``x-amz-content-sha256``): for a whole object the digest taken from the source bytes, for a
part the part's own. The store refuses a request whose bytes differ from the signed digest (S3
and MinIO answer ``XAmzContentSHA256Mismatch``), so a 2xx proves that the store received exactly
the bytes of the recorded digest, also over HTTPS (where boto3 would send ``UNSIGNED-PAYLOAD``).

Errors become botocore's ``ClientError`` / ``EndpointConnectionError`` / ``SSLError``, as a boto3
call would raise them. Connection errors and 5xx answers are retried with backoff and a retry
budget shared by all threads, as in botocore's ``standard`` mode: while the store is down,
requests stop being retried after a few dozen failures, so a run fails in seconds with one clear
error instead of every queued object sleeping through its own backoff.

How a request is signed and sent is the wire's job (:mod:`pdn.migrate.wire`).
"""

from __future__ import annotations

import hashlib
import random
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator, Mapping
from urllib.parse import quote, urlsplit
from xml.sax.saxutils import escape

from pdn.errors import PdnError
from pdn.migrate.s3 import CHUNK, Endpoint
from pdn.migrate.wire import EMPTY_SHA256, CertificateProblem, Reply, Transient, Wire, canonical_query

RETRIED_STATUS = frozenset({500, 502, 503, 504})
S3_XMLNS = "http://s3.amazonaws.com/doc/2006-03-01/"


class TargetStore:
    """The S3 calls of copy and verify on one endpoint (path-style addressing)."""

    def __init__(
        self, endpoint: Endpoint, verify: bool | str | None = None, attempts: int = 8, wire: Wire | None = None
    ) -> None:
        """``verify``: a CA bundle, True (default trust store) or False; default: as a boto3 client
        resolves it (:func:`pdn.s3client.tls_verify`)."""
        from botocore.retries.quota import RetryQuota

        from pdn.migrate.wire import default_wire
        from pdn.s3client import tls_verify

        if verify is None:
            verify = tls_verify()

        self.base = endpoint.url.rstrip("/")
        self.prefix = urlsplit(self.base).path  # an endpoint may live under a path
        self.region = endpoint.region or "us-east-1"
        self.wire = wire or default_wire(endpoint, verify)
        self.attempts = attempts
        self.quota = RetryQuota()

    def close(self) -> None:
        self.wire.close()

    def __enter__(self) -> TargetStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def bucket_path(self, bucket: str) -> str:
        """The URI-encoded path of a bucket."""
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
    ) -> Reply:
        """One signed request with retries; returns the 2xx reply (``stream``: its body unread)."""
        from botocore.exceptions import EndpointConnectionError, SSLError

        query = canonical_query(params) if params else ""
        spent = 0
        for attempt in range(1, self.attempts + 1):
            try:
                reply = self.wire.send(method, path, query, dict(headers or {}), body, payload_sha256, stream)
            except CertificateProblem as problem:  # will not heal by retrying
                raise SSLError(endpoint_url=self.base, error=problem.cause) from problem.cause
            except Transient as problem:
                if attempt == self.attempts or not self.quota.acquire(10):
                    target = f"{self.base}{path}" + (f"?{query}" if query else "")
                    raise EndpointConnectionError(endpoint_url=target, error=problem.cause) from problem.cause
                spent += 10
                _backoff(attempt)
                continue
            if 200 <= reply.status < 300:
                self.quota.release(spent or 1)
                return reply
            if reply.status in RETRIED_STATUS and attempt < self.attempts and self.quota.acquire(5):
                spent += 5
                _backoff(attempt)
                continue
            raise _client_error(operation, reply.status, reply.content)
        raise AssertionError("unreachable")  # pragma: no cover

    def put(self, bucket: str, key: str, data: bytes, sha256: str, metadata: Mapping[str, str]) -> str:
        """PUT a whole object from memory, signed with ``sha256``; returns the ETag."""
        reply = self.send("PutObject", "PUT", self.path(bucket, key), data, sha256, _meta_headers(metadata))
        return reply.header("ETag").strip('"')

    def upload_part(self, bucket: str, key: str, upload_id: str, number: int, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        params = {"partNumber": str(number), "uploadId": upload_id}
        reply = self.send("UploadPart", "PUT", self.path(bucket, key), data, digest, params=params)
        return reply.header("ETag")

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
            reply = self.send("ListMultipartUploads", "GET", self.bucket_path(bucket), params=params)
            root = _xml(reply.content)
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
        reply = self.send("CreateMultipartUpload", "POST", path, headers=headers, params={"uploads": ""})
        upload_id = _xml(reply.content).findtext("UploadId")
        if not upload_id:
            raise _client_error("CreateMultipartUpload", reply.status, reply.content)
        return upload_id

    def complete_upload(self, bucket: str, key: str, upload_id: str, etags: list[str]) -> None:
        parts = "".join(
            f"<Part><PartNumber>{number}</PartNumber><ETag>{escape(etag)}</ETag></Part>"
            for number, etag in enumerate(etags, 1)
        )
        body = f'<CompleteMultipartUpload xmlns="{S3_XMLNS}">{parts}</CompleteMultipartUpload>'.encode()
        path, params = self.path(bucket, key), {"uploadId": upload_id}
        reply = self.send(
            "CompleteMultipartUpload", "POST", path, body, hashlib.sha256(body).hexdigest(), params=params
        )
        # S3 may answer 200 and still fail the completion: the error is then in the body.
        if _xml(reply.content).tag == "Error":
            raise _client_error("CompleteMultipartUpload", reply.status, reply.content)

    def head(self, bucket: str, key: str) -> tuple[int, str]:
        """(size, ETag) of an object. ``ClientError`` when absent."""
        reply = self.send("HeadObject", "HEAD", self.path(bucket, key))
        return int(reply.header("Content-Length") or "-1"), reply.header("ETag").strip('"')

    def head_metadata(self, bucket: str, key: str) -> tuple[int, str, dict[str, str]] | None:
        """(size, ETag, user metadata) of an object, or ``None`` when it is absent."""
        from botocore.exceptions import ClientError

        try:
            reply = self.send("HeadObject", "HEAD", self.path(bucket, key))
        except ClientError as error:
            if error.response["ResponseMetadata"]["HTTPStatusCode"] == 404:
                return None
            raise
        meta = {
            name[len("x-amz-meta-") :]: value for name, value in reply.headers.items() if name.startswith("x-amz-meta-")
        }
        return int(reply.header("Content-Length") or "-1"), reply.header("ETag").strip('"'), meta

    def get_small(self, bucket: str, key: str, limit: int) -> bytes | None:
        """A whole object of at most ``limit`` bytes (a plan, a ledger snapshot), ``None`` when absent."""
        from botocore.exceptions import ClientError

        try:
            reply = self.send("GetObject", "GET", self.path(bucket, key), stream=True)
        except ClientError as error:
            if error.response["ResponseMetadata"]["HTTPStatusCode"] == 404:
                return None
            raise
        data = bytearray()
        try:
            for chunk in reply.chunks(CHUNK):
                data += chunk
                if len(data) > limit:
                    raise PdnError(f"{bucket}/{key} is larger than {limit} bytes")
        except BaseException:
            reply.abandon()
            raise
        return bytes(data)

    def has_objects(self, bucket: str, prefix: str) -> bool:
        """Whether any object lies under ``prefix`` (False also when the bucket does not exist)."""
        from botocore.exceptions import ClientError

        params = {"list-type": "2", "max-keys": "1", "prefix": prefix}
        try:
            reply = self.send("ListObjectsV2", "GET", self.bucket_path(bucket), params=params)
        except ClientError as error:
            if error.response["ResponseMetadata"]["HTTPStatusCode"] == 404:
                return False
            raise
        return any(True for _ in _xml(reply.content).iter("Contents"))

    def sha256_of_object(self, bucket: str, key: str) -> tuple[str, int]:
        """Stream an object and hash it; returns (sha256, size). ``ClientError`` when absent."""
        reply = self.send("GetObject", "GET", self.path(bucket, key), stream=True)
        digest = hashlib.sha256()
        total = 0
        try:
            for chunk in reply.chunks(CHUNK):
                digest.update(chunk)
                total += len(chunk)
        except BaseException:
            reply.abandon()  # cut short: the connection cannot be reused
            raise
        expected = reply.header("Content-Length")
        if expected and int(expected) != total:
            reply.abandon()
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
