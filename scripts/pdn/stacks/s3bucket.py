"""Backup buckets on a partner site's S3 endpoint, as a Pulumi dynamic provider over boto3.

Lives in the installed ``pdn`` package (not in ``infra/``) so that the dynamic-provider process,
which unpickles the provider by reference, can import it. A bucket is created with object lock
(which needs to be requested at creation), versioning, a default retention and a lifecycle
that expires old versions once their lock has run out. Credentials travel as secret inputs and
are declared ``additional_secret_outputs`` so they are encrypted in the state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi.dynamic as dyn

from pdn.s3client import s3_client

# Inputs whose change means a different bucket: replace rather than update.
REPLACE_KEYS = ("bucket", "endpoint")
SETTING_KEYS = ("lock_mode", "retention_days", "noncurrent_expiry_days", "tags", "region")
SECRET_KEYS = ("access_key", "secret_key")


def _client(props: dict[str, Any]) -> Any:
    return s3_client(props["endpoint"], props["region"], props["access_key"], props["secret_key"], read_timeout=30)


def _error_code(error: Exception) -> str:
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def lifecycle_rules(noncurrent_days: int, *, abort_uploads: bool = True) -> list[dict[str, Any]]:
    """Expire versions once their lock has run out, drop lone delete markers, abort stale uploads."""
    rules: list[dict[str, Any]] = [
        {
            "ID": "pdn-expire-old-versions",
            "Status": "Enabled",
            "Filter": {"Prefix": ""},
            "NoncurrentVersionExpiration": {"NoncurrentDays": noncurrent_days},
        },
        {
            "ID": "pdn-drop-delete-markers",
            "Status": "Enabled",
            "Filter": {"Prefix": ""},
            "Expiration": {"ExpiredObjectDeleteMarker": True},
        },
    ]
    if abort_uploads:
        rules.append(
            {
                "ID": "pdn-abort-incomplete-uploads",
                "Status": "Enabled",
                "Filter": {"Prefix": ""},
                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
            }
        )
    return rules


def client_put_lifecycle(client: Any, bucket: str, noncurrent_days: int) -> None:
    """Put the lifecycle; stores without AbortIncompleteMultipartUpload (MinIO cleans stale
    uploads itself and rejects the element) get the other rules."""
    try:
        client.put_bucket_lifecycle_configuration(
            Bucket=bucket, LifecycleConfiguration={"Rules": lifecycle_rules(noncurrent_days)}
        )
    except Exception as error:
        if _error_code(error) not in ("InvalidArgument", "MalformedXML", "NotImplemented"):
            raise
        client.put_bucket_lifecycle_configuration(
            Bucket=bucket, LifecycleConfiguration={"Rules": lifecycle_rules(noncurrent_days, abort_uploads=False)}
        )


def apply_settings(client: Any, props: dict[str, Any]) -> None:
    """Versioning, object-lock default retention, lifecycle and tags; safe to repeat."""
    bucket = props["bucket"]
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    client.put_object_lock_configuration(
        Bucket=bucket,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": props["lock_mode"], "Days": int(props["retention_days"])}},
        },
    )
    client_put_lifecycle(client, bucket, int(props["noncurrent_expiry_days"]))
    tags = props.get("tags") or {}
    if tags:
        client.put_bucket_tagging(
            Bucket=bucket, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in sorted(tags.items())]}
        )


def create_bucket(client: Any, props: dict[str, Any]) -> None:
    """Create with object lock; adopt a bucket we already own only if its lock is on."""
    bucket = props["bucket"]
    kwargs: dict[str, Any] = {"Bucket": bucket, "ObjectLockEnabledForBucket": True}
    if props["region"] != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": props["region"]}
    try:
        client.create_bucket(**kwargs)
    except Exception as error:
        if _error_code(error) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
        lock = client.get_object_lock_configuration(Bucket=bucket)
        if lock.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") != "Enabled":
            raise RuntimeError(
                f"bucket {bucket} already exists on {props['endpoint']} without object lock; "
                "object lock can only be enabled at creation: move its data and delete it"
            ) from None
    apply_settings(client, props)


def delete_bucket(client: Any, props: dict[str, Any]) -> None:
    """Delete the bucket. Refuses while it holds objects unless ``force_destroy`` (lab) is set."""
    bucket = props["bucket"]
    try:
        listing = client.list_object_versions(Bucket=bucket, MaxKeys=1)
    except Exception as error:
        if _error_code(error) == "NoSuchBucket":
            return
        raise
    if (listing.get("Versions") or listing.get("DeleteMarkers")) and not props.get("force_destroy"):
        raise RuntimeError(
            f"bucket {bucket} on {props['endpoint']} still holds backups; refusing to delete it "
            "(empty it after its retention ends, or set pdn:backup.forceDestroy in a lab)"
        )
    paginator = client.get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=bucket):
        for item in (page.get("Versions") or []) + (page.get("DeleteMarkers") or []):
            client.delete_object(
                Bucket=bucket, Key=item["Key"], VersionId=item["VersionId"], BypassGovernanceRetention=True
            )
    client.delete_bucket(Bucket=bucket)


class BucketProvider(dyn.ResourceProvider):
    """CRUD of one backup bucket; the bucket name is the resource id."""

    def create(self, props: dict[str, Any]) -> dyn.CreateResult:
        create_bucket(_client(props), props)
        return dyn.CreateResult(id_=props["bucket"], outs=dict(props))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.DiffResult:
        replaces = [key for key in REPLACE_KEYS if olds.get(key) != news.get(key)]
        changed = [key for key in (*SETTING_KEYS, *SECRET_KEYS, "force_destroy") if olds.get(key) != news.get(key)]
        return dyn.DiffResult(
            changes=bool(replaces or changed), replaces=replaces, delete_before_replace=bool(replaces)
        )

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> dyn.UpdateResult:
        apply_settings(_client(news), news)
        return dyn.UpdateResult(outs=dict(news))

    def read(self, id_: str, props: dict[str, Any]) -> dyn.ReadResult:
        client = _client(props)
        try:
            client.head_bucket(Bucket=id_)
        except Exception as error:
            if _error_code(error) in ("404", "NoSuchBucket", "NotFound"):
                return dyn.ReadResult(id_="", outs={})
            raise
        return dyn.ReadResult(id_=id_, outs=props)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        delete_bucket(_client(props), props)


@dataclass(frozen=True)
class S3BucketArgs:
    bucket: str
    endpoint: str
    region: str
    access_key: pulumi.Input[str]
    secret_key: pulumi.Input[str]
    lock_mode: str = "GOVERNANCE"
    retention_days: int = 30
    noncurrent_expiry_days: int = 45
    force_destroy: bool = False
    tags: dict[str, str] | None = None


class S3Bucket(dyn.Resource):
    """A versioned, object-locked backup bucket on some site's S3 endpoint."""

    bucket: pulumi.Output[str]
    endpoint: pulumi.Output[str]

    def __init__(self, name: str, args: S3BucketArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        props: dict[str, Any] = {
            "bucket": args.bucket,
            "endpoint": args.endpoint,
            "region": args.region,
            "access_key": pulumi.Output.secret(args.access_key),
            "secret_key": pulumi.Output.secret(args.secret_key),
            "lock_mode": args.lock_mode,
            "retention_days": args.retention_days,
            "noncurrent_expiry_days": args.noncurrent_expiry_days,
            "force_destroy": args.force_destroy,
            "tags": args.tags or {},
        }
        secret = pulumi.ResourceOptions(additional_secret_outputs=list(SECRET_KEYS))
        super().__init__(BucketProvider(), name, props, pulumi.ResourceOptions.merge(opts, secret))
