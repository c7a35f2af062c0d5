"""The per-thread connections of copy/verify: TLS with a CA bundle, keep-alive, reconnects, proxies."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from pdn.lab.pki import ensure_pki
from pdn.migrate.transport import Answer, Connections


class _Recorder(BaseHTTPRequestHandler):
    """Answers 200 with the request line echoed; closes after each answer when told to."""

    protocol_version = "HTTP/1.1"
    seen: ClassVar[list[tuple[str, int]]] = []  # (request target, client port): one port per connection
    close_each: ClassVar[bool] = False

    def do_PUT(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        type(self).seen.append((self.path, self.client_address[1]))
        body = f"{self.command} {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", '"e"')
        if self.close_each:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


def _serve(tls: ssl.SSLContext | None = None) -> Iterator[str]:
    _Recorder.seen, _Recorder.close_each = [], False
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    ensure_pki(tmp_path, "transport-test", "10.96.0.0/12")  # apiserver.crt has 127.0.0.1 in its names
    return tmp_path


@pytest.fixture
def https_url(pki: Path) -> Iterator[str]:
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(pki / "apiserver.crt", pki / "apiserver.key")
    yield from _serve(tls)


@pytest.fixture
def http_url() -> Iterator[str]:
    yield from _serve()


def test_tls_with_the_ca_bundle_and_keep_alive(https_url: str, pki: Path) -> None:
    connections = Connections(https_url, verify=str(pki / "ca.crt"))
    for index in range(3):
        answer = connections.request("PUT", f"/b/k{index}", {}, b"data")
        assert isinstance(answer, Answer) and answer.status == 200 and answer.content == f"PUT /b/k{index}".encode()
    assert len({port for _, port in _Recorder.seen}) == 1  # one connection carried all three
    connections.close()


def test_tls_refuses_an_unknown_issuer(https_url: str) -> None:
    connections = Connections(https_url, verify=True)  # the system trust store does not know the lab CA
    with pytest.raises(ssl.SSLCertVerificationError):
        connections.request("PUT", "/b/k", {}, b"data")


def test_reconnects_after_the_server_closes(http_url: str) -> None:
    _Recorder.close_each = True
    connections = Connections(http_url)
    for index in range(3):
        answer = connections.request("PUT", f"/b/k{index}", {}, b"x")
        assert isinstance(answer, Answer) and answer.status == 200
    assert len({port for _, port in _Recorder.seen}) == 3


def test_plain_http_goes_through_the_environment_proxy(http_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://user:pa%20ss@{http_url.removeprefix('http://')}")
    connections = Connections("http://store.invalid:9000")  # only the proxy is reachable
    answer = connections.request("PUT", "/b/k", {}, b"x")
    assert isinstance(answer, Answer) and answer.content == b"PUT http://store.invalid:9000/b/k"
    monkeypatch.setenv("NO_PROXY", "store.invalid")
    assert Connections("http://store.invalid:9000").proxy is None


def test_direct_s3_over_tls_and_a_certificate_error_is_not_retried(https_url: str, pki: Path) -> None:
    from botocore.exceptions import SSLError
    from botocore.retries.quota import RetryQuota

    from pdn.migrate.s3 import DirectS3, Endpoint

    endpoint = Endpoint(https_url, "key", "secret", "id-cikarang-1")
    digest = "0" * 64
    with DirectS3(endpoint, verify=str(pki / "ca.crt")) as trusted:
        assert trusted.put("b", "k ü", b"data", digest, {"sha256": digest}) == "e"
    assert _Recorder.seen[-1][0] == "/b/k%20%C3%BC"
    with DirectS3(endpoint, verify=True) as untrusted, pytest.raises(SSLError):
        untrusted.put("b", "k", b"data", digest, {})
    assert untrusted.quota.available_capacity == RetryQuota().available_capacity  # no retry was spent
