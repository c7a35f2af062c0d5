"""The bucket provider's S3 calls, checked with botocore's Stubber on a real client from
pdn.s3client: every call must be one the S3 model accepts, with exactly the expected parameters,
in the expected order, and nothing may be left unsaid or unasked."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from pdn.s3client import s3_client
from pdn.stacks import s3bucket

BUCKET = "pdn-backup-ikn"
PROPS = {
    "bucket": BUCKET,
    "endpoint": "https://s3.cikarang.pdn.go.id",
    "region": "id-cikarang-1",
    "access_key": "a",
    "secret_key": "s",
    "lock_mode": "GOVERNANCE",
    "retention_days": 30,
    "noncurrent_expiry_days": 45,
    "force_destroy": False,
    "tags": {"pdn.go.id/bucket-owner": "ikn"},
}
EXPIRE = {
    "ID": "pdn-expire-old-versions",
    "Status": "Enabled",
    "Filter": {"Prefix": ""},
    "NoncurrentVersionExpiration": {"NoncurrentDays": 45},
}
MARKERS = {
    "ID": "pdn-drop-delete-markers",
    "Status": "Enabled",
    "Filter": {"Prefix": ""},
    "Expiration": {"ExpiredObjectDeleteMarker": True},
}
ABORT = {
    "ID": "pdn-abort-incomplete-uploads",
    "Status": "Enabled",
    "Filter": {"Prefix": ""},
    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
}


@pytest.fixture
def s3() -> Iterator[tuple[Any, Stubber]]:
    client = s3_client(PROPS["endpoint"], PROPS["region"], "a", "s")
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()  # every expected call was made


def expect_settings(stub: Stubber, rules: list[dict[str, Any]] | None = None) -> None:
    stub.add_response("put_bucket_versioning", {}, {"Bucket": BUCKET, "VersioningConfiguration": {"Status": "Enabled"}})
    stub.add_response(
        "put_object_lock_configuration",
        {},
        {
            "Bucket": BUCKET,
            "ObjectLockConfiguration": {
                "ObjectLockEnabled": "Enabled",
                "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 30}},
            },
        },
    )
    stub.add_response(
        "put_bucket_lifecycle_configuration",
        {},
        {"Bucket": BUCKET, "LifecycleConfiguration": {"Rules": rules or [EXPIRE, MARKERS, ABORT]}},
    )
    stub.add_response(
        "put_bucket_tagging",
        {},
        {"Bucket": BUCKET, "Tagging": {"TagSet": [{"Key": "pdn.go.id/bucket-owner", "Value": "ikn"}]}},
    )


CREATE = {
    "Bucket": BUCKET,
    "ObjectLockEnabledForBucket": True,
    "CreateBucketConfiguration": {"LocationConstraint": "id-cikarang-1"},
}


def test_create_enables_lock_versioning_lifecycle(s3: tuple[Any, Stubber]) -> None:
    client, stub = s3
    stub.add_response("create_bucket", {}, CREATE)
    expect_settings(stub)
    s3bucket.create_bucket(client, PROPS)


def test_create_in_us_east_1_names_no_location(s3: tuple[Any, Stubber]) -> None:
    client, stub = s3
    stub.add_response("create_bucket", {}, {"Bucket": BUCKET, "ObjectLockEnabledForBucket": True})
    expect_settings(stub)
    s3bucket.create_bucket(client, {**PROPS, "region": "us-east-1"})


def test_create_adopts_own_locked_bucket(s3: tuple[Any, Stubber]) -> None:
    client, stub = s3
    stub.add_client_error("create_bucket", "BucketAlreadyOwnedByYou", http_status_code=409, expected_params=CREATE)
    stub.add_response(
        "get_object_lock_configuration",
        {"ObjectLockConfiguration": {"ObjectLockEnabled": "Enabled"}},
        {"Bucket": BUCKET},
    )
    expect_settings(stub)
    s3bucket.create_bucket(client, PROPS)


def test_create_refuses_an_existing_bucket_without_lock(s3: tuple[Any, Stubber]) -> None:
    client, stub = s3
    stub.add_client_error("create_bucket", "BucketAlreadyOwnedByYou", http_status_code=409, expected_params=CREATE)
    stub.add_response("get_object_lock_configuration", {"ObjectLockConfiguration": {}}, {"Bucket": BUCKET})
    with pytest.raises(RuntimeError, match="without object lock"):
        s3bucket.create_bucket(client, PROPS)  # and no settings are put on it


def test_create_passes_other_errors_on(s3: tuple[Any, Stubber]) -> None:
    client, stub = s3
    stub.add_client_error("create_bucket", "AccessDenied", http_status_code=403, expected_params=CREATE)
    with pytest.raises(ClientError, match="AccessDenied"):
        s3bucket.create_bucket(client, PROPS)


def test_delete_refuses_bucket_with_backups(s3: tuple[Any, Stubber]) -> None:
    client, stub = s3
    stub.add_response(
        "list_object_versions",
        {"Versions": [{"Key": "backups/a.tar.gz", "VersionId": "v1"}]},
        {"Bucket": BUCKET, "MaxKeys": 1},
    )
    with pytest.raises(RuntimeError, match="still holds backups"):
        s3bucket.delete_bucket(client, PROPS)  # no delete call follows


def test_delete_of_a_missing_bucket_is_done(s3: tuple[Any, Stubber]) -> None:
    client, stub = s3
    stub.add_client_error(
        "list_object_versions", "NoSuchBucket", http_status_code=404, expected_params={"Bucket": BUCKET, "MaxKeys": 1}
    )
    s3bucket.delete_bucket(client, PROPS)


def test_force_destroy_empties_every_version_with_governance_bypass(s3: tuple[Any, Stubber]) -> None:
    client, stub = s3
    stub.add_response(
        "list_object_versions", {"Versions": [{"Key": "a", "VersionId": "v1"}]}, {"Bucket": BUCKET, "MaxKeys": 1}
    )
    stub.add_response(
        "list_object_versions",
        {
            "Versions": [{"Key": "a", "VersionId": "v1"}, {"Key": "a", "VersionId": "v0"}],
            "DeleteMarkers": [{"Key": "b", "VersionId": "m1"}],
            "IsTruncated": False,
        },
        {"Bucket": BUCKET},
    )
    for key, version in (("a", "v1"), ("a", "v0"), ("b", "m1")):
        stub.add_response(
            "delete_object",
            {},
            {"Bucket": BUCKET, "Key": key, "VersionId": version, "BypassGovernanceRetention": True},
        )
    stub.add_response("delete_bucket", {}, {"Bucket": BUCKET})
    s3bucket.delete_bucket(client, {**PROPS, "force_destroy": True})


def test_lifecycle_falls_back_when_abort_rule_rejected(s3: tuple[Any, Stubber]) -> None:
    """MinIO rejects AbortIncompleteMultipartUpload; the other two rules are put instead."""
    client, stub = s3
    stub.add_client_error(
        "put_bucket_lifecycle_configuration",
        "InvalidArgument",
        http_status_code=400,
        expected_params={"Bucket": BUCKET, "LifecycleConfiguration": {"Rules": [EXPIRE, MARKERS, ABORT]}},
    )
    stub.add_response(
        "put_bucket_lifecycle_configuration",
        {},
        {"Bucket": BUCKET, "LifecycleConfiguration": {"Rules": [EXPIRE, MARKERS]}},
    )
    s3bucket.client_put_lifecycle(client, BUCKET, 45)


def test_other_lifecycle_errors_are_not_swallowed(s3: tuple[Any, Stubber]) -> None:
    client, stub = s3
    stub.add_client_error("put_bucket_lifecycle_configuration", "AccessDenied", http_status_code=403)
    with pytest.raises(ClientError, match="AccessDenied"):
        s3bucket.client_put_lifecycle(client, BUCKET, 45)


def test_read_forgets_a_bucket_that_is_gone(s3: tuple[Any, Stubber], monkeypatch: pytest.MonkeyPatch) -> None:
    client, stub = s3
    monkeypatch.setattr(s3bucket, "_client", lambda props: client)
    stub.add_client_error("head_bucket", "404", http_status_code=404, expected_params={"Bucket": BUCKET})
    stub.add_response("head_bucket", {}, {"Bucket": BUCKET})
    provider = s3bucket.BucketProvider()
    assert provider.read(BUCKET, PROPS).id == ""
    kept = provider.read(BUCKET, PROPS)
    assert kept.id == BUCKET and kept.outs == PROPS


def test_update_puts_the_settings_again(s3: tuple[Any, Stubber], monkeypatch: pytest.MonkeyPatch) -> None:
    client, stub = s3
    monkeypatch.setattr(s3bucket, "_client", lambda props: client)
    expect_settings(stub)
    assert s3bucket.BucketProvider().update(BUCKET, PROPS, PROPS).outs == PROPS


def test_diff_replaces_on_bucket_or_endpoint_only() -> None:
    provider = s3bucket.BucketProvider()
    assert not provider.diff("x", PROPS, dict(PROPS)).changes
    moved = provider.diff("x", PROPS, {**PROPS, "endpoint": "https://s3.batam.pdn.go.id"})
    assert moved.changes and moved.replaces == ["endpoint"]
    longer = provider.diff("x", PROPS, {**PROPS, "retention_days": 60})
    assert longer.changes and not longer.replaces
