"""The boto3 bucket provider against a lab MinIO: lock, versioning, lifecycle, refusal, cleanup."""

from __future__ import annotations

from typing import Any

import pytest

from pdn.sites import load_sites
from pdn.stacks import s3bucket


@pytest.fixture
def props(lab: Any) -> dict[str, Any]:
    from pdn.lab import endpoints

    access, secret = endpoints.s3_credentials("batam")
    return {
        "bucket": "pdn-test-provider",
        "endpoint": endpoints.s3_endpoint("batam"),
        "region": load_sites().site("batam").object_storage.region,
        "access_key": access,
        "secret_key": secret,
        "lock_mode": "GOVERNANCE",
        "retention_days": 1,
        "noncurrent_expiry_days": 45,
        "force_destroy": False,
        "tags": {"pdn.go.id/bucket-owner": "test"},
    }


def test_bucket_lifecycle_against_minio(props: dict[str, Any]) -> None:
    provider = s3bucket.BucketProvider()
    client = s3bucket._client(props)
    try:
        provider.create(props)
        provider.create(props)  # adopting our own locked bucket is idempotent
        assert client.get_bucket_versioning(Bucket=props["bucket"])["Status"] == "Enabled"
        lock = client.get_object_lock_configuration(Bucket=props["bucket"])["ObjectLockConfiguration"]
        assert lock["ObjectLockEnabled"] == "Enabled" and lock["Rule"]["DefaultRetention"]["Mode"] == "GOVERNANCE"
        provider.update(props["bucket"], props, {**props, "retention_days": 2})
        lock = client.get_object_lock_configuration(Bucket=props["bucket"])["ObjectLockConfiguration"]
        assert lock["Rule"]["DefaultRetention"]["Days"] == 2
        client.put_object(Bucket=props["bucket"], Key="velero/backup", Body=b"x")
        with pytest.raises(RuntimeError, match="still holds backups"):
            provider.delete(props["bucket"], props)
    finally:
        provider.delete(props["bucket"], {**props, "force_destroy": True})
    assert provider.read(props["bucket"], props).id == ""
