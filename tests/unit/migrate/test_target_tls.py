"""The target store's connections, whatever wire sends them: TLS with a CA bundle and the same
trust as a boto3 client, keep-alive, reconnects after the server closes, no retry on a
certificate error."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from functools import partial
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import ClassVar

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tls_servers import make_pki, serve, server_tls

from pdn.migrate.s3 import Endpoint
from pdn.migrate.target import TargetStore


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

    def do_HEAD(self) -> None:  # HeadBucket
        type(self).seen.append((self.path, self.client_address[1]))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    return make_pki(tmp_path, "target-test")


@pytest.fixture
def https_url(pki: Path) -> Iterator[str]:
    _Recorder.seen, _Recorder.close_each = [], False
    yield from serve(_Recorder, server_tls(pki))


@pytest.fixture
def http_url() -> Iterator[str]:
    _Recorder.seen, _Recorder.close_each = [], False
    yield from serve(_Recorder)


DIGEST = "0" * 64


def _store(url: str, verify: bool | str | None = None) -> TargetStore:
    return TargetStore(Endpoint(url, "key", "secret", "id-cikarang-1"), verify=verify, attempts=1)


def test_tls_with_the_ca_bundle_and_keep_alive(https_url: str, pki: Path) -> None:
    with _store(https_url, str(pki / "ca.crt")) as store:
        for index in range(3):
            assert store.put("b", f"k ü{index}", b"data", DIGEST, {"sha256": DIGEST}) == "e"
    assert [target for target, _ in _Recorder.seen] == [f"/b/k%20%C3%BC{index}" for index in range(3)]
    assert len({port for _, port in _Recorder.seen}) == 1  # one connection carried all three


def test_a_certificate_error_is_not_retried(https_url: str) -> None:
    from botocore.exceptions import SSLError
    from botocore.retries.quota import RetryQuota

    store = TargetStore(Endpoint(https_url, "key", "secret"), verify=True)  # the system trust store
    with store, pytest.raises(SSLError):
        store.put("b", "k", b"data", DIGEST, {})
    assert store.quota.available_capacity == RetryQuota().available_capacity  # no retry was spent
    assert _Recorder.seen == []


def test_reconnects_after_the_server_closes(http_url: str) -> None:
    _Recorder.close_each = True
    with _store(http_url) as store:
        for index in range(3):
            assert store.put("b", f"k{index}", b"x", DIGEST, {}) == "e"
    assert len({port for _, port in _Recorder.seen}) == 3


@pytest.fixture
def other_ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA that did not sign the test server's certificate."""
    return make_pki(tmp_path_factory.mktemp("other-pki"), "other-test") / "ca.crt"


def test_the_target_trusts_what_a_boto3_client_trusts(
    https_url: str, pki: Path, other_ca: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """For each way botocore takes a CA bundle (and their precedence), the target store and a boto3
    client built by pdn.s3client reach the TLS server, or both refuse its certificate."""
    import boto3
    from botocore.exceptions import SSLError

    from pdn.migrate.s3 import Endpoint
    from pdn.migrate.target import TargetStore
    from pdn.s3client import s3_client

    right, wrong = str(pki / "ca.crt"), str(other_ca)
    config = tmp_path / "aws-config"

    def outcome(reach: Callable[[], object]) -> str:
        try:
            reach()
        except SSLError:
            return "refused"
        return "trusted"

    cases = [  # (AWS_CA_BUNDLE, config file ca_bundle, REQUESTS_CA_BUNDLE) -> expected
        ((None, None, None), "refused"),  # the default trust store does not know the lab CA
        ((None, None, right), "trusted"),
        ((None, right, None), "trusted"),
        ((right, None, None), "trusted"),
        ((None, wrong, right), "refused"),  # the config file comes before REQUESTS_CA_BUNDLE
        ((wrong, right, None), "refused"),  # AWS_CA_BUNDLE comes before the config file
        ((right, wrong, wrong), "trusted"),
    ]
    for name in ("AWS_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "AWS_PROFILE", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    for (aws, in_config, requests), expected in cases:
        for name, value in (("AWS_CA_BUNDLE", aws), ("REQUESTS_CA_BUNDLE", requests)):
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        config.write_text(f"[default]\nca_bundle = {in_config}\n" if in_config else "[default]\n")
        monkeypatch.setenv("AWS_CONFIG_FILE", str(config) if in_config else str(tmp_path / "absent"))
        monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # a new process reads the settings afresh
        boto3_client = s3_client(https_url, "id-cikarang-1", "key", "secret", attempts=1)
        with TargetStore(Endpoint(https_url, "key", "secret", "id-cikarang-1"), attempts=1) as store:
            got = (outcome(partial(boto3_client.head_bucket, Bucket="b")), outcome(partial(store.bucket_exists, "b")))
        assert got == (expected, expected), (aws, in_config, requests)
