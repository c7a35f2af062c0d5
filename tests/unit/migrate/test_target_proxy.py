"""The target store behind proxies: an ``https://`` proxy is spoken to over TLS (and verified), an
https store behind it is reached through CONNECT with TLS inside TLS, proxy credentials are sent,
and NO_PROXY (curl's rules, pdn.proxyenv) sends directly."""

from __future__ import annotations

import base64
import socket
import socketserver
import ssl
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tls_servers import make_pki, serve, server_tls

from pdn.migrate.s3 import Endpoint
from pdn.migrate.target import TargetStore

DIGEST = "0" * 64


class _Store(BaseHTTPRequestHandler):
    """The object store: answers every PUT with 200 and remembers the request targets."""

    protocol_version = "HTTP/1.1"
    seen: ClassVar[list[str]] = []

    def do_PUT(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        type(self).seen.append(self.path)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.send_header("ETag", '"stored"')
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@dataclass
class _ProxyLog:
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (request line, Proxy-Authorization)
    plaintext_refused: int = 0  # clients that did not speak TLS to a TLS proxy


class _Proxy(socketserver.BaseRequestHandler):
    """A forward proxy: CONNECT tunnels, absolute-form requests are passed on; TLS when the server has it."""

    def handle(self) -> None:
        server: Any = self.server
        client: socket.socket = self.request
        if server.tls is not None:
            try:
                client = server.tls.wrap_socket(client, server_side=True)
            except (ssl.SSLError, OSError):
                server.log.plaintext_refused += 1
                return
        reader = client.makefile("rb")
        line = reader.readline().decode("latin-1").strip()
        headers: dict[str, str] = {}
        raw = b""
        while (header := reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = header.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
            if name.strip().lower() != "proxy-authorization":
                raw += header
        server.log.requests.append((line, headers.get("proxy-authorization")))
        method, target, _ = line.split(" ", 2)
        if method == "CONNECT":
            host, port = target.rsplit(":", 1)
            upstream = socket.create_connection((host, int(port)))
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        else:
            url = urlsplit(target)
            upstream = socket.create_connection((url.hostname or "", url.port or 80))
            path = url.path + (f"?{url.query}" if url.query else "")
            upstream.sendall(f"{method} {path} HTTP/1.1\r\n".encode() + raw + b"Connection: close\r\n\r\n")
        pump = threading.Thread(target=_pipe, args=(reader, upstream), daemon=True)
        pump.start()
        try:
            while chunk := upstream.recv(65536):
                client.sendall(chunk)
        except OSError:
            pass
        finally:
            upstream.close()


def _pipe(reader: Any, upstream: socket.socket) -> None:
    try:
        while chunk := reader.read1(65536):
            upstream.sendall(chunk)
    except OSError:
        pass


def _serve_proxy(tls: ssl.SSLContext | None) -> Iterator[tuple[str, _ProxyLog]]:
    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True

    server = Server(("127.0.0.1", 0), _Proxy)
    server.tls, server.log = tls, _ProxyLog()  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", server.log  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    return make_pki(tmp_path, "proxy-test")


@pytest.fixture
def tls_proxy(pki: Path) -> Iterator[tuple[str, _ProxyLog]]:
    yield from _serve_proxy(server_tls(pki))


@pytest.fixture
def plain_proxy() -> Iterator[tuple[str, _ProxyLog]]:
    yield from _serve_proxy(None)


@pytest.fixture
def http_store() -> Iterator[str]:
    _Store.seen = []
    yield from serve(_Store)


@pytest.fixture
def https_store(pki: Path) -> Iterator[str]:
    _Store.seen = []
    yield from serve(_Store, server_tls(pki))


@pytest.fixture(autouse=True)
def no_proxy_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


def _put(store_url: str, verify: bool | str) -> str:
    with TargetStore(Endpoint(store_url, "key", "secret", "id-cikarang-1"), verify=verify, attempts=1) as store:
        return store.put("b", "k", b"data", DIGEST, {})


def test_http_store_through_an_https_proxy_speaks_tls_to_the_proxy(
    http_store: str, tls_proxy: tuple[str, _ProxyLog], pki: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    address, log = tls_proxy
    monkeypatch.setenv("HTTP_PROXY", f"https://user:pa%20ss@{address}")
    assert _put(http_store, str(pki / "ca.crt")) == "stored"
    assert log.plaintext_refused == 0
    line, authorization = log.requests[0]
    assert line == f"PUT {http_store}/b/k HTTP/1.1"  # absolute form, inside TLS
    assert authorization == "Basic " + base64.b64encode(b"user:pa ss").decode()
    assert _Store.seen == ["/b/k"]


def test_https_store_through_an_https_proxy_tunnels_tls_inside_tls(
    https_store: str, tls_proxy: tuple[str, _ProxyLog], pki: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    address, log = tls_proxy
    monkeypatch.setenv("HTTPS_PROXY", f"https://{address}")
    assert _put(https_store, str(pki / "ca.crt")) == "stored"
    assert log.plaintext_refused == 0
    assert log.requests[0][0].startswith(f"CONNECT {https_store.removeprefix('https://')} HTTP/1.")
    assert _Store.seen == ["/b/k"]


def test_https_store_through_a_plain_proxy(
    https_store: str, plain_proxy: tuple[str, _ProxyLog], pki: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    address, log = plain_proxy
    monkeypatch.setenv("HTTPS_PROXY", f"http://{address}")
    assert _put(https_store, str(pki / "ca.crt")) == "stored"
    assert log.requests[0][0].startswith("CONNECT 127.0.0.1:")


def test_an_untrusted_proxy_certificate_is_refused(
    http_store: str, tls_proxy: tuple[str, _ProxyLog], monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import SSLError

    address, log = tls_proxy
    monkeypatch.setenv("HTTP_PROXY", f"https://{address}")
    with pytest.raises(SSLError):
        _put(http_store, True)  # the default trust store does not know the lab CA
    assert log.requests == [] and _Store.seen == []


def test_no_proxy_sends_directly(
    http_store: str, tls_proxy: tuple[str, _ProxyLog], pki: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    address, log = tls_proxy
    monkeypatch.setenv("HTTP_PROXY", f"https://{address}")
    monkeypatch.setenv("NO_PROXY", "example.org, 127.0.0.0/8")
    assert _put(http_store, str(pki / "ca.crt")) == "stored"
    assert log.requests == [] and _Store.seen == ["/b/k"]


# boto3 clients (pdn.s3client: sources, backups, the stacks' buckets) follow the same rules.


def _boto3_put(store_url: str) -> Any:
    import boto3

    from pdn.s3client import s3_client

    boto3.DEFAULT_SESSION = None  # read the environment afresh, as a new process would
    client = s3_client(store_url, "id-cikarang-1", "key", "secret", attempts=1)
    return client.put_object(Bucket="b", Key="k", Body=b"data")


def test_boto3_client_reaches_an_https_store_through_an_https_proxy(
    https_store: str, tls_proxy: tuple[str, _ProxyLog], pki: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    address, log = tls_proxy
    monkeypatch.setenv("HTTPS_PROXY", f"https://{address}")
    monkeypatch.setenv("AWS_CA_BUNDLE", str(pki / "ca.crt"))
    assert _boto3_put(https_store)["ETag"] == '"stored"'
    assert log.plaintext_refused == 0 and log.requests[0][0].startswith("CONNECT 127.0.0.1:")


def test_boto3_client_follows_curl_no_proxy(
    http_store: str, plain_proxy: tuple[str, _ProxyLog], monkeypatch: pytest.MonkeyPatch
) -> None:
    address, log = plain_proxy
    monkeypatch.setenv("HTTP_PROXY", f"http://{address}")
    monkeypatch.setenv("NO_PROXY", "10.0.0.0/8 , 127.0.0.0/8")  # Python's urllib knows no CIDR: it would proxy
    _boto3_put(http_store)
    assert log.requests == [] and _Store.seen == ["/b/k"]
    monkeypatch.setenv("NO_PROXY", "other.example")
    _boto3_put(http_store)
    assert log.requests and log.requests[0][0] == f"PUT {http_store}/b/k HTTP/1.1"


def test_boto3_client_refuses_an_https_proxy_it_could_not_verify(
    http_store: str, tls_proxy: tuple[str, _ProxyLog], monkeypatch: pytest.MonkeyPatch
) -> None:
    from pdn.errors import PdnError
    from pdn.s3client import s3_client

    address, log = tls_proxy
    monkeypatch.setenv("HTTP_PROXY", f"https://{address}")
    with pytest.raises(PdnError, match="would not verify"):
        s3_client(http_store, "id-cikarang-1", "key", "secret")
    assert log.requests == []
