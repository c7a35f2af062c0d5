"""The target store of copy/verify against the lab's real MinIO: its bucket and multipart calls,
checked with a boto3 client, and the integrity proof — a request whose body differs from the
SHA-256 it is signed with is refused by the store, and the ledger records nothing for it."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from pdn.errors import PdnError
from pdn.migrate import copy as copy_stage
from pdn.migrate.ledger import Ledger
from pdn.migrate.s3 import Endpoint, client
from pdn.migrate.sources import DirectorySource
from pdn.migrate.target import TargetStore
from pdn.migrate.wire import Reply, Wire

SITE = "cikarang"


@pytest.fixture
def endpoint(lab: Any) -> Endpoint:
    access, secret = lab.s3_credentials(SITE)
    return Endpoint(lab.s3_endpoint(SITE), access, secret, lab.s3_region(SITE))


@pytest.fixture
def bucket(endpoint: Endpoint) -> Iterator[str]:
    """A fresh bucket name on the site's MinIO; the bucket and what it holds go afterwards."""
    name = f"mig-test-{uuid.uuid4().hex[:10]}"
    yield name
    s3 = client(endpoint)
    try:
        for upload in s3.list_multipart_uploads(Bucket=name).get("Uploads", []):
            s3.abort_multipart_upload(Bucket=name, Key=upload["Key"], UploadId=upload["UploadId"])
        for item in s3.list_objects_v2(Bucket=name).get("Contents", []):
            s3.delete_object(Bucket=name, Key=item["Key"])
        s3.delete_bucket(Bucket=name)
    except ClientError as error:
        if error.response["Error"]["Code"] != "NoSuchBucket":
            raise


def test_bucket_and_multipart_calls_against_minio(endpoint: Endpoint, bucket: str) -> None:
    """The control-plane calls copy makes without a botocore client, checked with one."""
    s3 = client(endpoint)
    with TargetStore(endpoint) as store:
        assert not store.bucket_exists(bucket)
        store.ensure_bucket(bucket)
        store.ensure_bucket(bucket)  # exists: nothing to do
        assert store.bucket_exists(bucket)
        assert s3.get_bucket_location(Bucket=bucket)["LocationConstraint"] == endpoint.region
        key = "pre fix/big ü.bin"
        stale = [store.create_upload(bucket, key, {"sha256": "x"}) for _ in range(2)]
        assert sorted(upload_id for _, upload_id in store.uploads(bucket, key)) == sorted(stale)
        assert copy_stage.abort_stale_uploads(store, bucket, key) == 2
        assert s3.list_multipart_uploads(Bucket=bucket, Prefix=key).get("Uploads", []) == []
        part1, part2 = os.urandom(5 * 1024 * 1024), b"tail"
        whole = hashlib.sha256(part1 + part2).hexdigest()
        upload_id = store.create_upload(bucket, key, {"sha256": whole})
        etags = [store.upload_part(bucket, key, upload_id, n, data) for n, data in ((1, part1), (2, part2))]
        store.complete_upload(bucket, key, upload_id, etags)
        head = s3.head_object(Bucket=bucket, Key=key)
        assert head["Metadata"] == {"sha256": whole}
        assert store.head(bucket, key) == (len(part1) + len(part2), head["ETag"].strip('"'))
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == part1 + part2
        assert store.sha256_of_object(bucket, key) == (whole, len(part1) + len(part2))
        with pytest.raises(ClientError) as absent:
            store.head(bucket, "no such key")
        assert absent.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


class Tampering:
    """A wire that changes one byte of the body of requests to ``victim`` paths after signing:
    the signature still carries the SHA-256 of the bytes copy read, the store gets others."""

    def __init__(self, real: Wire, victim: str) -> None:
        self.real, self.victim, self.tampered = real, victim, 0

    def send(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes, payload: str, stream: bool
    ) -> Reply:
        if method == "PUT" and self.victim in path and body:
            body = bytes([body[0] ^ 0xFF]) + body[1:]
            self.tampered += 1
        return self.real.send(method, path, query, headers, body, payload, stream)

    def close(self) -> None:
        self.real.close()


def test_put_whose_body_differs_from_its_signed_sha256_is_refused(endpoint: Endpoint, bucket: str) -> None:
    s3 = client(endpoint)
    data = os.urandom(64 * 1024)
    with TargetStore(endpoint) as store:
        store.ensure_bucket(bucket)
        other = hashlib.sha256(data + b"!").hexdigest()
        with pytest.raises(ClientError) as refused:
            store.put(bucket, "direct.bin", data, other, {"sha256": other})
        assert refused.value.response["Error"]["Code"] == "XAmzContentSHA256Mismatch"
        with pytest.raises(ClientError):
            s3.head_object(Bucket=bucket, Key="direct.bin")


def test_copy_records_nothing_for_a_refused_body(endpoint: Endpoint, bucket: str, tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    for index in range(20):
        (source / f"ok-{index:02d}.bin").write_bytes(os.urandom(10_000))
    (source / "victim-small.bin").write_bytes(os.urandom(200_000))  # one PUT
    (source / "victim-large.bin").write_bytes(os.urandom(copy_stage.PART + 1000))  # multipart
    with TargetStore(endpoint) as store, Ledger(tmp_path / "ledger.sqlite") as ledger:
        tampering = Tampering(store.wire, "victim-")
        store.wire = tampering
        with pytest.raises(PdnError) as failed:
            copy_stage.copy(store, DirectorySource(source), bucket, "", ledger, workers=4)
        assert tampering.tampered >= 2
        message = str(failed.value)
        assert "2 objects failed" in message and message.count("XAmzContentSHA256Mismatch") == 2, message
        rows = {entry.key: entry for entry in ledger.entries()}
        for victim in ("victim-small.bin", "victim-large.bin"):
            assert rows[victim].state == "pending" and not rows[victim].sha256, rows[victim]
        assert {rows[f"ok-{index:02d}.bin"].state for index in range(20)} == {"copied"}
    s3 = client(endpoint)
    keys = {item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}
    assert keys == {f"ok-{index:02d}.bin" for index in range(20)}
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []  # the refused upload was aborted


def test_temporary_credentials_sign_with_their_session_token(endpoint: Endpoint, bucket: str) -> None:
    """Keys from MinIO's STS (AssumeRole) work only together with their session token."""
    import boto3

    sts = boto3.client(
        "sts",
        endpoint_url=endpoint.url,
        region_name=endpoint.region,
        aws_access_key_id=endpoint.access_key,
        aws_secret_access_key=endpoint.secret_key,
    )
    keys = sts.assume_role(RoleArn="arn:minio:iam:::role/pdn-test", RoleSessionName="pdn-test")["Credentials"]
    temporary = Endpoint(
        endpoint.url, keys["AccessKeyId"], keys["SecretAccessKey"], endpoint.region, keys["SessionToken"]
    )
    data = b"temporary credentials"
    digest = hashlib.sha256(data).hexdigest()
    with TargetStore(temporary) as store:
        store.ensure_bucket(bucket)
        store.put(bucket, "with-token.txt", data, digest, {"sha256": digest})
        assert store.sha256_of_object(bucket, "with-token.txt") == (digest, len(data))
    assert client(temporary).get_object(Bucket=bucket, Key="with-token.txt")["Body"].read() == data
    without = Endpoint(endpoint.url, keys["AccessKeyId"], keys["SecretAccessKey"], endpoint.region)
    with TargetStore(without) as store, pytest.raises(ClientError) as refused:
        store.put(bucket, "without-token.txt", data, digest, {})
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
