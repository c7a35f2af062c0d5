"""The boto3 bucket provider's logic against a recording fake S3 client."""

from __future__ import annotations

from typing import Any

import pytest

from pdn.stacks import s3bucket


class ClientError(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.response = {"Error": {"Code": code}}


class FakeS3:
    def __init__(self, *, exists: bool = False, locked: bool = True, objects: int = 0) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.exists, self.locked, self.objects = exists, locked, objects

    def __getattr__(self, name: str) -> Any:
        def call(**kwargs: Any) -> Any:
            self.calls.append((name, kwargs))
            if name == "create_bucket" and self.exists:
                raise ClientError("BucketAlreadyOwnedByYou")
            if name == "get_object_lock_configuration":
                return {"ObjectLockConfiguration": {"ObjectLockEnabled": "Enabled" if self.locked else "Disabled"}}
            if name == "list_object_versions":
                versions = [{"Key": f"k{i}", "VersionId": f"v{i}"} for i in range(self.objects)]
                return {"Versions": versions}
            return {}

        return call

    def get_paginator(self, _name: str) -> Any:
        fake = self

        class Pages:
            def paginate(self, **_kwargs: Any) -> list[dict[str, Any]]:
                return [fake.list_object_versions(Bucket="x")]

        return Pages()

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


PROPS = {
    "bucket": "pdn-backup-ikn",
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


def test_create_enables_lock_versioning_lifecycle() -> None:
    fake = FakeS3()
    s3bucket.create_bucket(fake, PROPS)
    create = dict(fake.calls)["create_bucket"]
    assert create["ObjectLockEnabledForBucket"] is True
    assert create["CreateBucketConfiguration"] == {"LocationConstraint": "id-cikarang-1"}
    assert fake.names()[1:] == [
        "put_bucket_versioning",
        "put_object_lock_configuration",
        "put_bucket_lifecycle_configuration",
        "put_bucket_tagging",
    ]
    rule = dict(fake.calls)["put_object_lock_configuration"]["ObjectLockConfiguration"]["Rule"]
    assert rule == {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 30}}


def test_create_adopts_own_locked_bucket_but_not_unlocked() -> None:
    s3bucket.create_bucket(FakeS3(exists=True), PROPS)
    with pytest.raises(RuntimeError, match="without object lock"):
        s3bucket.create_bucket(FakeS3(exists=True, locked=False), PROPS)


def test_delete_refuses_bucket_with_backups() -> None:
    fake = FakeS3(objects=2)
    with pytest.raises(RuntimeError, match="still holds backups"):
        s3bucket.delete_bucket(fake, PROPS)
    assert "delete_bucket" not in fake.names()


def test_force_destroy_empties_with_governance_bypass() -> None:
    fake = FakeS3(objects=2)
    s3bucket.delete_bucket(fake, {**PROPS, "force_destroy": True})
    deletes = [kwargs for name, kwargs in fake.calls if name == "delete_object"]
    assert len(deletes) == 2 and all(d["BypassGovernanceRetention"] for d in deletes)
    assert fake.names()[-1] == "delete_bucket"


def test_diff_replaces_on_bucket_or_endpoint_only() -> None:
    provider = s3bucket.BucketProvider()
    assert not provider.diff("x", PROPS, dict(PROPS)).changes
    moved = provider.diff("x", PROPS, {**PROPS, "endpoint": "https://s3.batam.pdn.go.id"})
    assert moved.changes and moved.replaces == ["endpoint"]
    longer = provider.diff("x", PROPS, {**PROPS, "retention_days": 60})
    assert longer.changes and not longer.replaces


def test_lifecycle_falls_back_when_abort_rule_rejected() -> None:
    class MinioLike(FakeS3):
        def put_bucket_lifecycle_configuration(self, **kwargs: Any) -> dict[str, Any]:
            self.calls.append(("put_bucket_lifecycle_configuration", kwargs))
            rules = kwargs["LifecycleConfiguration"]["Rules"]
            if any("AbortIncompleteMultipartUpload" in rule for rule in rules):
                raise ClientError("InvalidArgument")
            return {}

    fake = MinioLike()
    s3bucket.create_bucket(fake, PROPS)
    lifecycles = [kwargs for name, kwargs in fake.calls if name == "put_bucket_lifecycle_configuration"]
    assert len(lifecycles) == 2
    final = lifecycles[-1]["LifecycleConfiguration"]["Rules"]
    assert {rule["ID"] for rule in final} == {"pdn-expire-old-versions", "pdn-drop-delete-markers"}


def test_other_lifecycle_errors_are_not_swallowed() -> None:
    class Denied(FakeS3):
        def put_bucket_lifecycle_configuration(self, **_kwargs: Any) -> dict[str, Any]:
            raise ClientError("AccessDenied")

    with pytest.raises(ClientError):
        s3bucket.create_bucket(Denied(), PROPS)
