"""The signed requests of copy/verify (TargetStore) and what copy guarantees around them.

Covers: keys needing URL encoding round-trip, S3 error answers become ``ClientError`` (retried
only when transient), a source changing between hash and upload fails that object and leaves
no upload behind, one unreadable object does not stop the others being recorded, and batched
ledger writes are all-or-nothing.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from pdn.errors import PdnError
from pdn.migrate import copy as copy_stage
from pdn.migrate import target as target_module
from pdn.migrate import verify as verify_stage
from pdn.migrate.ledger import Ledger
from pdn.migrate.s3 import Endpoint, client, ensure_bucket
from pdn.migrate.sources import DirectorySource
from pdn.migrate.target import TargetStore
from pdn.migrate.wire import Reply


@pytest.fixture
def endpoint(s3_server: str) -> Endpoint:
    return Endpoint(s3_server, "testing", "testing-secret", "id-cikarang-1")


@pytest.fixture
def s3(endpoint: Endpoint) -> Any:
    return client(endpoint)


@pytest.fixture
def store(endpoint: Endpoint) -> Iterator[TargetStore]:
    """The target as copy and verify talk to it (the boto3 client ``s3`` checks what they did)."""
    with TargetStore(endpoint) as direct:
        yield direct


def test_odd_keys_round_trip(tmp_path: Path, s3: Any, store: TargetStore) -> None:
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


def test_direct_errors_are_client_errors(s3: Any, store: TargetStore) -> None:
    from botocore.exceptions import ClientError

    direct = store
    with pytest.raises(ClientError) as caught:
        direct.put("no-such-bucket-here", "k", b"x", hashlib.sha256(b"x").hexdigest(), {})
    assert caught.value.response["Error"]["Code"] == "NoSuchBucket"
    ensure_bucket(s3, "mig-direct")
    with pytest.raises(ClientError) as absent:
        direct.sha256_of_object("mig-direct", "missing")
    assert absent.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def _answer(status: int, content: bytes = b"", etag: str = "") -> Reply:
    return Reply(status, {"etag": etag}, content)


class _Scripted:
    """Stands in for the wire: replies from a script, records the requests."""

    def __init__(self, answers: list[Reply]) -> None:
        self.answers = answers
        self.requests: list[tuple[dict[str, str], str]] = []  # (headers, signed payload SHA-256)
        self.targets: list[str] = []

    def send(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes, payload: str, stream: bool
    ) -> Reply:
        self.requests.append((headers, payload))
        self.targets.append(f"{method} {path}?{query}")
        return self.answers.pop(0)

    def close(self) -> None:
        pass


def _scripted_store(answers: list[Reply]) -> tuple[TargetStore, _Scripted]:
    scripted = _Scripted(answers)
    return TargetStore(Endpoint("http://store.example:9000", "k", "s"), verify=True, wire=scripted), scripted


def test_transient_answers_are_retried_and_others_are_not(monkeypatch: pytest.MonkeyPatch) -> None:
    from botocore.exceptions import ClientError

    monkeypatch.setattr(target_module, "_backoff", lambda attempt: None)
    slow = b"<Error><Code>SlowDown</Code><Message>later</Message></Error>"
    direct, scripted = _scripted_store([_answer(503, slow), _answer(500), _answer(200, etag='"abc"')])
    digest = hashlib.sha256(b"data").hexdigest()
    assert direct.put("b", "k", b"data", digest, {"sha256": digest}) == "abc"
    headers, payload = scripted.requests[0]
    assert payload == digest  # the body is signed with our digest
    assert headers["x-amz-meta-sha256"] == digest
    assert len(scripted.requests) == 3
    denied = b"<Error><Code>AccessDenied</Code><Message>no</Message></Error>"
    direct, scripted = _scripted_store([_answer(403, denied), _answer(200)])
    with pytest.raises(ClientError, match="AccessDenied"):
        direct.put("b", "k", b"data", digest, {})
    assert len(scripted.requests) == 1
    direct, scripted = _scripted_store([_answer(503, slow), _answer(503, slow)])
    direct.attempts = 2
    with pytest.raises(ClientError, match="SlowDown"):
        direct.put("b", "k", b"data", digest, {})


def test_upload_listing_pages_and_completion_errors() -> None:
    from botocore.exceptions import ClientError

    ns = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'
    first = (
        f"<ListMultipartUploadsResult {ns}><IsTruncated>true</IsTruncated><NextKeyMarker>a&amp;b</NextKeyMarker>"
        "<NextUploadIdMarker>u1</NextUploadIdMarker><Upload><Key>a&amp;b</Key><UploadId>u1</UploadId></Upload>"
        "</ListMultipartUploadsResult>"
    ).encode()
    second = (
        b"<ListMultipartUploadsResult><Upload><Key>c</Key><UploadId>u2</UploadId></Upload></ListMultipartUploadsResult>"
    )
    direct, scripted = _scripted_store([_answer(200, first), _answer(200, second)])
    assert list(direct.uploads("b", "")) == [("a&b", "u1"), ("c", "u2")]
    assert "key-marker=a%26b" in scripted.targets[1] and "upload-id-marker=u1" in scripted.targets[1]
    failed = b"<Error><Code>InternalError</Code><Message>try again</Message></Error>"
    direct, _ = _scripted_store([_answer(200, failed)])  # S3 may fail a completion with 200
    with pytest.raises(ClientError, match="InternalError"):
        direct.complete_upload("b", "k", "u1", ['"e1"'])


def test_large_source_changed_between_reads_fails_cleanly(
    tmp_path: Path, s3: Any, monkeypatch: pytest.MonkeyPatch, store: TargetStore
) -> None:
    source_dir = tmp_path / "src"
    source_dir.mkdir()
    big = source_dir / "big.bin"
    big.write_bytes(os.urandom(copy_stage.PART + 5000))
    (source_dir / "small.bin").write_bytes(b"small")
    from pdn.migrate import sources

    real = sources.sha256_of

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


def test_one_failure_keeps_the_others_recorded(tmp_path: Path, s3: Any, store: TargetStore) -> None:
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
