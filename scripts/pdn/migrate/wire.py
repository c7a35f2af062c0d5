"""How the target store's requests are signed and sent: botocore's SigV4 signer and urllib3's pool.

Both are maintained libraries: botocore's ``S3SigV4Auth`` signs (session tokens included: they go
out as ``X-Amz-Security-Token``), urllib3 keeps the connections alive, speaks TLS and goes through
HTTP and HTTPS proxies (TLS inside TLS for an https store behind an https proxy). Measured
against the hand-written signer and ``http.client`` transport it replaced and against
``rclone copy --checksum``: docs/benchmarks.md.

The one thing the signer is told: the payload hash is the SHA-256 we computed from the source
bytes (botocore would otherwise hash the body again, or sign ``UNSIGNED-PAYLOAD`` over HTTPS).
The proxy is the one :func:`pdn.proxyenv.proxy_for` names (curl's ``NO_PROXY`` rules); an https
proxy's certificate is verified like the store's.

A wire raises :class:`Transient` for trouble worth a retry on a new connection and
:class:`CertificateProblem` for a certificate that did not verify;
:class:`pdn.migrate.target.TargetStore` does the retrying. :class:`Wire` is what the store needs
of a wire (tests put a scripted or tampering one in its place).
"""

from __future__ import annotations

import hashlib
import ssl
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote, urlsplit

from pdn.proxyenv import proxy_for

if TYPE_CHECKING:
    from pdn.migrate.s3 import Endpoint

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
POOL = 64  # connections kept per store: copy's workers plus its part uploads, with room


class Transient(Exception):
    """A dropped, refused or timed-out connection, or an answer cut short."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


class CertificateProblem(Exception):
    """The store's (or the proxy's) certificate did not verify."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


@dataclass
class Reply:
    """A reply: status, headers (names in lower case), and the body or a way to stream it."""

    status: int
    headers: dict[str, str]
    content: bytes = b""
    stream: Callable[[int], Iterator[bytes]] | None = None  # chunks of a streamed body, once
    abandon: Callable[[], None] = field(default=lambda: None)  # after a cut-short stream

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")

    def chunks(self, size: int) -> Iterator[bytes]:
        if self.stream is None:
            yield self.content
            return
        yield from self.stream(size)


class Wire(Protocol):
    def send(
        self,
        method: str,
        path: str,
        query: str,
        headers: dict[str, str],
        body: bytes,
        payload_sha256: str,
        stream: bool,
    ) -> Reply: ...

    def close(self) -> None: ...


def lower_names(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Headers by lower-case name (a repeated header keeps its last value)."""
    return {name.lower(): value for name, value in pairs}


def canonical_query(params: Mapping[str, str]) -> str:
    """Sorted ``key=value`` pairs, both URI-encoded (RFC 3986 unreserved characters kept), as
    SigV4 signs them and as they are sent."""
    encoded = sorted((quote(key, safe="-_.~"), quote(value, safe="-_.~")) for key, value in params.items())
    return "&".join(f"{key}={value}" for key, value in encoded)


class Signer:
    """botocore's ``S3SigV4Auth`` for one key pair (and session token) and region."""

    def __init__(self, endpoint: Endpoint) -> None:
        from botocore.auth import S3SigV4Auth
        from botocore.credentials import Credentials

        class KnownPayload(S3SigV4Auth):  # type: ignore[misc]
            """Signs the SHA-256 the caller computed (``context["payload_sha256"]``)."""

            def payload(self, request: Any) -> str:
                return str(request.context["payload_sha256"])

        credentials = Credentials(endpoint.access_key, endpoint.secret_key, endpoint.session_token)
        self.auth = KnownPayload(credentials, "s3", endpoint.region or "us-east-1")
        self.scheme = urlsplit(endpoint.url).scheme

    def headers(
        self, method: str, host: str, path: str, query: str, headers: Mapping[str, str], payload_sha256: str
    ) -> dict[str, str]:
        """``headers`` plus Host, X-Amz-Date, X-Amz-Content-SHA256, X-Amz-Security-Token (with a
        session token) and Authorization, for the URI-encoded ``path`` and ``query`` as sent."""
        from botocore.awsrequest import AWSRequest

        url = f"{self.scheme}://{host}{path}" + (f"?{query}" if query else "")
        request = AWSRequest(method=method, url=url, headers=dict(headers))
        request.context["payload_sha256"] = payload_sha256
        self.auth.add_auth(request)
        return dict(request.headers.items())


class PoolWire:
    """One urllib3 connection pool to the store (or to its proxy), shared by every thread."""

    def __init__(self, endpoint: Endpoint, verify: bool | str = True, pool: int = POOL) -> None:
        import urllib3

        from pdn.migrate.s3 import CONNECT_TIMEOUT, READ_TIMEOUT

        base = endpoint.url.rstrip("/")
        parts = urlsplit(base)
        self.host_header = parts.netloc.rpartition("@")[2]
        origin = f"{parts.scheme}://{self.host_header}"
        self.signer = Signer(endpoint)
        settings: dict[str, Any] = {
            "maxsize": pool,
            "timeout": urllib3.Timeout(connect=CONNECT_TIMEOUT, read=READ_TIMEOUT),
            "cert_reqs": "CERT_NONE" if verify is False else "CERT_REQUIRED",
        }
        if isinstance(verify, str):
            settings["ca_certs"] = verify
        proxy = proxy_for(base)
        self.prefix = ""  # what goes before the path: the origin, when a proxy forwards plain http
        self.proxy_headers: dict[str, str] = {}
        if proxy is None:
            self.manager: Any = urllib3.PoolManager(**settings)
        else:
            if proxy.scheme == "https":  # TLS to the proxy, verified like the store
                cafile = verify if isinstance(verify, str) else None
                settings["proxy_ssl_context"] = ssl.create_default_context(cafile=cafile)
            self.manager = urllib3.ProxyManager(proxy.url, proxy_headers=proxy.headers, **settings)
            if parts.scheme == "http":  # forwarded in absolute form; https is tunnelled (CONNECT)
                self.prefix, self.proxy_headers = origin, proxy.headers
        self.pool = self.manager.connection_from_url(origin)

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
        import urllib3

        signed = self.signer.headers(method, self.host_header, path, query, headers, payload_sha256)
        signed.update(self.proxy_headers)
        target = f"{self.prefix}{path}?{query}" if query else f"{self.prefix}{path}"
        try:
            response = self.pool.urlopen(
                method, target, body=body or None, headers=signed, retries=False, redirect=False,
                assert_same_host=False, preload_content=not stream, decode_content=False,
            )  # fmt: skip
        except urllib3.exceptions.SSLError as error:
            raise CertificateProblem(error) from error
        except urllib3.exceptions.ProxyError as error:
            if isinstance(getattr(error, "original_error", None), urllib3.exceptions.SSLError | ssl.SSLError):
                raise CertificateProblem(error) from error  # the proxy's certificate
            raise Transient(error) from error
        except urllib3.exceptions.HTTPError as error:  # refused, reset, timed out
            raise Transient(error) from error
        found = lower_names(response.headers.items())
        if stream and 200 <= response.status < 300:
            return Reply(response.status, found, stream=lambda size: _read(response, size), abandon=response.close)
        if stream:
            response.read()
            response.release_conn()
        return Reply(response.status, found, response.data)

    def close(self) -> None:
        self.manager.clear()


def _read(response: Any, size: int) -> Iterator[bytes]:
    while chunk := response.read(size):
        yield chunk
    response.release_conn()


def default_wire(endpoint: Endpoint, verify: bool | str) -> Wire:
    """The wire copy and verify use."""
    return PoolWire(endpoint, verify)
