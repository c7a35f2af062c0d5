"""The signed direct requests of copy/verify (DirectS3) and what copy guarantees around them.

Covers: keys needing URL encoding round-trip, S3 error answers become ``ClientError`` (retried
only when transient), a source changing between hash and upload fails that object and leaves
no upload behind, one unreadable object does not stop the others being recorded, and batched
ledger writes are all-or-nothing.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from pdn.errors import PdnError
from pdn.migrate import copy as copy_stage
from pdn.migrate import s3 as s3_module
from pdn.migrate import verify as verify_stage
from pdn.migrate.ledger import Ledger
from pdn.migrate.s3 import DirectorySource, DirectS3, Endpoint, client, ensure_bucket
from pdn.migrate.transport import Answer


@pytest.fixture
def s3(s3_server: str) -> Any:
    return client(Endpoint(s3_server, "testing", "testing-secret", "id-cikarang-1"))


@pytest.fixture
def store(s3: Any) -> Iterator[DirectS3]:
    """The target as copy and verify talk to it (the boto3 client ``s3`` checks what they did)."""
    with DirectS3.for_client(s3) as direct:
        yield direct


def test_odd_keys_round_trip(tmp_path: Path, s3: Any, store: DirectS3) -> None:
    names = ["dir 0/ä b+c=&?.bin", "x%20y~'(!)*.bin", "plain.bin"]
    for name in names:
        path = tmp_path / "src" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(name.encode() * 10)
    source = DirectorySource(tmp_path / "src")
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        assert copy_stage.copy(store, source, "mig-odd", "pre fix/ü", ledger).copied == 3
        assert verify_stage.verify(store, "mig-odd", "pre fix/ü", ledger, source).ok == 3
    for name in names:
        answer = s3.get_object(Bucket="mig-odd", Key=f"pre fix/ü/{name}")
        assert answer["Body"].read() == name.encode() * 10
        assert answer["Metadata"]["sha256"] == hashlib.sha256(name.encode() * 10).hexdigest()


def test_direct_errors_are_client_errors(s3: Any) -> None:
    from botocore.exceptions import ClientError

    direct = DirectS3.for_client(s3)
    with pytest.raises(ClientError) as caught:
        direct.put("no-such-bucket-here", "k", b"x", hashlib.sha256(b"x").hexdigest(), {})
    assert caught.value.response["Error"]["Code"] == "NoSuchBucket"
    ensure_bucket(s3, "mig-direct")
    with pytest.raises(ClientError) as absent:
        direct.sha256_of_object("mig-direct", "missing")
    assert absent.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def _answer(status: int, content: bytes = b"", etag: str = "") -> Answer:
    headers = http.client.HTTPMessage()
    headers["ETag"] = etag
    return Answer(status, headers, content)


class _Scripted:
    """Stands in for the connections: answers from a script, records the requests."""

    def __init__(self, answers: list[Answer]) -> None:
        self.answers, self.requests = answers, []  # type: ignore[var-annotated]
        self.targets: list[str] = []
        self.host_header = "store.example:9000"

    def request(self, method: str, target: str, headers: dict[str, str], body: bytes, stream: bool) -> Answer:
        self.requests.append(headers)
        self.targets.append(f"{method} {target}")
        return self.answers.pop(0)


def test_transient_answers_are_retried_and_others_are_not(s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from botocore.exceptions import ClientError

    monkeypatch.setattr(s3_module, "_backoff", lambda attempt: None)
    direct = DirectS3.for_client(s3)
    slow = b"<Error><Code>SlowDown</Code><Message>later</Message></Error>"
    scripted = _Scripted([_answer(503, slow), _answer(500), _answer(200, etag='"abc"')])
    monkeypatch.setattr(direct, "http", scripted)
    digest = hashlib.sha256(b"data").hexdigest()
    assert direct.put("b", "k", b"data", digest, {"sha256": digest}) == "abc"
    first = scripted.requests[0]
    assert first["X-Amz-Content-SHA256"] == digest  # the body is signed with our digest
    assert first["x-amz-meta-sha256"] == digest
    denied = b"<Error><Code>AccessDenied</Code><Message>no</Message></Error>"
    scripted = _Scripted([_answer(403, denied), _answer(200)])
    monkeypatch.setattr(direct, "http", scripted)
    with pytest.raises(ClientError, match="AccessDenied"):
        direct.put("b", "k", b"data", digest, {})
    assert len(scripted.requests) == 1
    direct.attempts = 2
    monkeypatch.setattr(direct, "http", _Scripted([_answer(503, slow), _answer(503, slow)]))
    with pytest.raises(ClientError, match="SlowDown"):
        direct.put("b", "k", b"data", digest, {})


def test_bucket_and_multipart_calls_against_minio(s3: Any, store: DirectS3) -> None:
    """The control-plane calls copy makes without a botocore client, checked with one."""
    store.ensure_bucket("mig-control")
    store.ensure_bucket("mig-control")  # exists: nothing to do
    assert store.bucket_exists("mig-control") and not store.bucket_exists("mig-absent")
    assert s3.get_bucket_location(Bucket="mig-control")["LocationConstraint"] == "id-cikarang-1"
    key = "pre fix/big ü.bin"
    stale = [store.create_upload("mig-control", key, {"sha256": "x"}) for _ in range(2)]
    assert sorted(upload_id for _, upload_id in store.uploads("mig-control", key)) == sorted(stale)
    assert copy_stage.abort_stale_uploads(store, "mig-control", key) == 2
    assert s3.list_multipart_uploads(Bucket="mig-control", Prefix=key).get("Uploads", []) == []
    part1, part2 = os.urandom(5 * 1024 * 1024), b"tail"
    upload_id = store.create_upload("mig-control", key, {"sha256": hashlib.sha256(part1 + part2).hexdigest()})
    etags = [store.upload_part("mig-control", key, upload_id, n, data) for n, data in ((1, part1), (2, part2))]
    store.complete_upload("mig-control", key, upload_id, etags)
    assert store.head("mig-control", key)[0] == len(part1) + len(part2)
    head = s3.head_object(Bucket="mig-control", Key=key)
    assert head["Metadata"] == {"sha256": hashlib.sha256(part1 + part2).hexdigest()}
    assert store.sha256_of_object("mig-control", key) == (
        hashlib.sha256(part1 + part2).hexdigest(),
        head["ContentLength"],
    )


def test_upload_listing_pages_and_completion_errors(s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from botocore.exceptions import ClientError

    direct = DirectS3.for_client(s3)
    ns = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'
    first = (
        f"<ListMultipartUploadsResult {ns}><IsTruncated>true</IsTruncated><NextKeyMarker>a&amp;b</NextKeyMarker>"
        "<NextUploadIdMarker>u1</NextUploadIdMarker><Upload><Key>a&amp;b</Key><UploadId>u1</UploadId></Upload>"
        "</ListMultipartUploadsResult>"
    ).encode()
    second = (
        b"<ListMultipartUploadsResult><Upload><Key>c</Key><UploadId>u2</UploadId></Upload></ListMultipartUploadsResult>"
    )
    scripted = _Scripted([_answer(200, first), _answer(200, second)])
    monkeypatch.setattr(direct, "http", scripted)
    assert list(direct.uploads("b", "")) == [("a&b", "u1"), ("c", "u2")]
    assert "key-marker=a%26b" in scripted.targets[1] and "upload-id-marker=u1" in scripted.targets[1]
    failed = b"<Error><Code>InternalError</Code><Message>try again</Message></Error>"
    monkeypatch.setattr(direct, "http", _Scripted([_answer(200, failed)]))  # S3 may fail a completion with 200
    with pytest.raises(ClientError, match="InternalError"):
        direct.complete_upload("b", "k", "u1", ['"e1"'])


def test_large_source_changed_between_reads_fails_cleanly(
    tmp_path: Path, s3: Any, monkeypatch: pytest.MonkeyPatch, store: DirectS3
) -> None:
    source_dir = tmp_path / "src"
    source_dir.mkdir()
    big = source_dir / "big.bin"
    big.write_bytes(os.urandom(copy_stage.PART + 5000))
    (source_dir / "small.bin").write_bytes(b"small")
    real = s3_module.sha256_of

    def hash_then_change(handle: IO[bytes]) -> tuple[str, int]:
        answer = real(handle)
        with big.open("r+b") as writer:  # same size, other bytes: only the second read sees it
            writer.seek(100)
            writer.write(b"changed!")
        return answer

    monkeypatch.setattr("pdn.migrate.copy.sha256_of", hash_then_change)
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        with pytest.raises(PdnError, match=r"big\.bin: RuntimeError: big\.bin changed while copying"):
            copy_stage.copy(store, DirectorySource(source_dir), "mig-changed", "", ledger)
        assert ledger.get("big.bin").state == "pending"  # type: ignore[union-attr]
        assert ledger.get("small.bin").state == "copied"  # type: ignore[union-attr]
    assert s3.list_multipart_uploads(Bucket="mig-changed").get("Uploads", []) == []
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket="mig-changed").get("Contents", [])]
    assert keys == ["small.bin"]


class _OneBroken(DirectorySource):
    def open(self, key: str) -> IO[bytes]:
        if key == "d/broken.bin":
            raise OSError("disk says no")
        return super().open(key)


def test_one_failure_keeps_the_others_recorded(tmp_path: Path, s3: Any, store: DirectS3) -> None:
    for index in range(300):  # more than one ledger batch
        path = tmp_path / "src" / "d" / f"f{index:03d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(100))
    (tmp_path / "src" / "d" / "broken.bin").write_bytes(b"x")
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        with pytest.raises(PdnError, match=r"1 objects failed .*\n  d/broken.bin: OSError: disk says no"):
            copy_stage.copy(store, _OneBroken(tmp_path / "src"), "mig-broken", "", ledger, workers=8)
        states = {entry.key: entry.state for entry in ledger.entries()}
        assert states.pop("d/broken.bin") == "pending"
        assert set(states.values()) == {"copied"} and len(states) == 300
        again = copy_stage.copy(store, DirectorySource(tmp_path / "src"), "mig-broken", "", ledger)
        assert (again.copied, again.skipped) == (1, 300)


def test_batched_ledger_writes_are_all_or_nothing(tmp_path: Path) -> None:
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        ledger.upsert_pending([("a", 1, "m1"), ("b", 1, "m2")])
        ledger.mark_copied_many([("a", "sha-a", "etag-a"), ("b", "sha-b", "etag-b")])
        assert [(e.key, e.state, e.sha256) for e in ledger.entries()] == [
            ("a", "copied", "sha-a"),
            ("b", "copied", "sha-b"),
        ]
        with pytest.raises(sqlite3.Error):  # second row cannot be stored: the first must not be kept either
            ledger.mark_verified_many([("a", "sha-a", True), ("b", {"not": "text"}, False)])  # type: ignore[list-item]
        assert {e.state for e in ledger.entries()} == {"copied"}
        ledger.mark_verified_many([("a", "sha-a", True), ("b", "other", False)])
        assert [e.state for e in ledger.entries()] == ["verified", "mismatch"]


def test_direct_needs_a_client_from_client() -> None:
    from botocore.session import Session

    foreign = Session().create_client(
        "s3", endpoint_url="http://127.0.0.1:9", aws_access_key_id="a", aws_secret_access_key="b"
    )
    with pytest.raises(PdnError, match=r"pdn\.migrate\.s3\.client\(\)"):
        DirectS3.for_client(foreign)


def test_tls_verification_follows_the_client_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from botocore.session import Session

    for name in ("AWS_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    assert s3_module._verify_value(Session()) is True
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/requests.pem")
    assert s3_module._verify_value(Session()) == "/etc/requests.pem"
    monkeypatch.setenv("AWS_CA_BUNDLE", "/etc/aws.pem")  # botocore's own setting wins, as in a client
    assert s3_module._verify_value(Session()) == "/etc/aws.pem"


def test_copy_and_verify_resolve_tls_as_the_client_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """tls_verify() (no botocore session unless a config file exists) agrees with _verify_value()."""
    from botocore.session import Session

    for name in ("AWS_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "absent"))
    assert s3_module.tls_verify() is True
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/requests.pem")
    assert s3_module.tls_verify() == "/etc/requests.pem"
    config = tmp_path / "config"
    config.write_text("[default]\nca_bundle = /etc/from-config.pem\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    assert s3_module.tls_verify() == s3_module._verify_value(Session()) == "/etc/from-config.pem"
    monkeypatch.setenv("AWS_CA_BUNDLE", "/etc/aws.pem")
    assert s3_module.tls_verify() == s3_module._verify_value(Session()) == "/etc/aws.pem"
