"""Maintained S3 wires the benchmark measures beside pdn's own (:class:`pdn.migrate.wire.PoolWire`).

``botocore``: botocore's signer and its ``URLLib3Session`` (the request path of a boto3 client
without the client). ``crt``: the AWS Common Runtime's S3 client (awscrt, C), one ``DEFAULT``
meta request per call, signed by the CRT with our SHA-256; its Python binding takes no proxy
settings, so it refuses an endpoint that needs one. Both pass the target store's lab tests
(tests/lab/migrate/test_target_lab.py) when put in place of the default wire.
"""

from __future__ import annotations

import io
import queue
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from pdn.errors import PdnError
from pdn.migrate.s3 import CONNECT_TIMEOUT, READ_TIMEOUT, Endpoint
from pdn.migrate.wire import CertificateProblem, Reply, Signer, Transient, lower_names
from pdn.proxyenv import proxy_for
from pdn.s3client import botocore_proxies


class BotocoreWire:
    """botocore's signer and botocore's ``URLLib3Session``."""

    def __init__(self, endpoint: Endpoint, verify: bool | str = True, pool: int = 64) -> None:
        from botocore.httpsession import URLLib3Session

        self.base = endpoint.url.rstrip("/")
        self.origin = self.base[: len(self.base) - len(urlsplit(self.base).path)]
        proxies, proxies_config = botocore_proxies(self.base, verify)
        self.session = URLLib3Session(
            verify=verify,
            proxies=proxies,
            timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
            max_pool_connections=pool,
            proxies_config=proxies_config,
        )
        self.signer = Signer(endpoint).auth

    def send(
        self,
        method: str,
        path: str,
        query: str,
        headers: dict[str, str],
        body: bytes,
        payload_sha256: str,
        stream: bool,
    ) -> Reply:
        from botocore.awsrequest import AWSRequest
        from botocore.exceptions import ConnectionError, HTTPClientError, SSLError

        url = f"{self.origin}{path}" + (f"?{query}" if query else "")
        request = AWSRequest(method=method, url=url, headers=headers, data=body)
        request.context["payload_sha256"] = payload_sha256
        request.stream_output = stream
        self.signer.add_auth(request)
        try:
            response = self.session.send(request.prepare())
        except SSLError as error:
            raise CertificateProblem(error) from error
        except (ConnectionError, HTTPClientError) as error:  # refused, closed, timed out, proxy trouble
            raise Transient(error) from error
        if stream and 200 <= response.status_code < 300:
            raw = response.raw
            return Reply(
                response.status_code,
                lower_names(response.headers.items()),
                stream=lambda size: _read(raw, size),
                abandon=raw.close,
            )
        return Reply(response.status_code, lower_names(response.headers.items()), response.content)

    def close(self) -> None:
        self.session.close()


def _read(raw: Any, size: int) -> Iterator[bytes]:
    while chunk := raw.read(size):
        yield chunk


OPERATIONS = {
    ("PUT", True): "UploadPart",
    ("PUT", False): "PutObject",
    ("POST", True): "CompleteMultipartUpload",
    ("POST", False): "CreateMultipartUpload",
    ("GET", False): "GetObject",
    ("HEAD", False): "HeadObject",
    ("DELETE", False): "AbortMultipartUpload",
}


class CrtWire:
    """awscrt's S3 client."""

    def __init__(self, endpoint: Endpoint, verify: bool | str = True) -> None:
        from awscrt import auth, s3  # type: ignore[import-untyped]
        from awscrt import io as crt_io

        base = endpoint.url.rstrip("/")
        if proxy_for(base) is not None:
            raise PdnError(f"the CRT wire cannot use the proxy the environment names for {base}")
        parts = urlsplit(base)
        self.host = parts.netloc.rpartition("@")[2]
        self.region = endpoint.region or "us-east-1"
        self.credentials = auth.AwsCredentialsProvider.new_static(
            endpoint.access_key, endpoint.secret_key, endpoint.session_token
        )
        tls_options = None
        if parts.scheme == "https":
            context_options = crt_io.TlsContextOptions()
            if isinstance(verify, str):
                context_options.override_default_trust_store_from_path(ca_filepath=verify)
            context_options.verify_peer = verify is not False
            tls_options = crt_io.ClientTlsContext(context_options).new_connection_options()
            tls_options.set_server_name(parts.hostname or "")
        self.client = s3.S3Client(
            region=self.region,
            tls_mode=s3.S3RequestTlsMode.ENABLED if parts.scheme == "https" else s3.S3RequestTlsMode.DISABLED,
            tls_connection_options=tls_options,
            credential_provider=self.credentials,
        )

    def _signing(self, payload_sha256: str) -> Any:
        from awscrt import auth

        return auth.AwsSigningConfig(
            algorithm=auth.AwsSigningAlgorithm.V4,
            signature_type=auth.AwsSignatureType.HTTP_REQUEST_HEADERS,
            credentials_provider=self.credentials,
            region=self.region,
            service="s3",
            signed_body_value=payload_sha256,
            signed_body_header_type=auth.AwsSignedBodyHeaderType.X_AMZ_CONTENT_SHA_256,
            use_double_uri_encode=False,  # S3 signs the path as sent
            should_normalize_uri_path=False,
        )

    def send(
        self,
        method: str,
        path: str,
        query: str,
        headers: dict[str, str],
        body: bytes,
        payload_sha256: str,
        stream: bool,
    ) -> Reply:
        from awscrt import http, s3
        from awscrt.exceptions import AwsCrtError  # type: ignore[import-untyped]

        all_headers = http.HttpHeaders([("Host", self.host), ("Content-Length", str(len(body))), *headers.items()])
        target = f"{path}?{query}" if query else path
        request = http.HttpRequest(method, target, all_headers, io.BytesIO(body) if body else None)
        answer: dict[str, Any] = {}
        chunks: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()

        def on_headers(status_code: int, headers: list[tuple[str, str]], **_: Any) -> None:
            answer["status"], answer["headers"] = status_code, headers

        def on_body(chunk: bytes, **_: Any) -> None:
            chunks.put(bytes(chunk))

        operation = OPERATIONS.get((method, "uploadId=" in query or "partNumber" in query), "ListMultipartUploads")
        if method == "GET" and query:
            operation = "ListMultipartUploads"
        made = self.client.make_request(
            type=s3.S3RequestType.DEFAULT,
            operation_name=operation if not (method == "PUT" and path.count("/") == 1) else "CreateBucket",
            request=request,
            signing_config=self._signing(payload_sha256),
            on_headers=on_headers,
            on_body=on_body,
        )
        try:
            made.finished_future.result()
        except s3.S3ResponseError as error:
            return Reply(error.status_code, lower_names(error.headers or []), error.body or b"")
        except AwsCrtError as error:
            if "TLS" in error.name or "X509" in error.name or "CERT" in error.name:
                raise CertificateProblem(error) from error
            raise Transient(error) from error
        chunks.put(None)
        headers_got = lower_names(answer.get("headers", []))
        content = b"".join(iter(chunks.get, None))
        return Reply(int(answer.get("status", 0)), headers_got, content)

    def close(self) -> None:
        self.client = None
