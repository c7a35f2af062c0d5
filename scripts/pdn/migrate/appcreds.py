"""Per-app object store credentials: short-lived, read-only, for the app's own bucket only.

The store's STS ``AssumeRole`` (MinIO answers it on the S3 endpoint) turns the issuing identity's
credentials into temporary ones narrowed by a session policy: ``s3:ListBucket`` and
``s3:GetObject`` on ``arn:aws:s3:::<bucket>`` and nothing else. An app that is given another
tenant's bucket name still cannot read it, and a leaked Secret expires by itself. The Secret is
built as data and applied with the one Kubernetes client; its values never reach a file or a log.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from pdn.errors import InputError
from pdn.s3client import sts_client

BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")

#: How long issued credentials live; ``pdn up`` issues new ones on every run.
DURATION_SECONDS = 7 * 24 * 3600


def read_only_policy(bucket: str) -> dict[str, Any]:
    """The session policy: list and read one bucket."""
    if not BUCKET.fullmatch(bucket):
        raise InputError(f"bucket {bucket!r} is not an S3 bucket name")
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
                "Resource": [f"arn:aws:s3:::{bucket}"],
            },
            {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": [f"arn:aws:s3:::{bucket}/*"]},
        ],
    }


def issue_read_only(
    endpoint: str, region: str, access_key: str, secret_key: str, bucket: str, *, duration: int = DURATION_SECONDS
) -> dict[str, str]:
    """Temporary credentials for ``bucket`` as the AWS_* variables an S3 client reads."""
    sts = sts_client(endpoint, region, access_key, secret_key)
    reply = sts.assume_role(
        RoleArn="arn:aws:iam::pdn:role/migrated-app",  # MinIO ignores the role; AWS would check it
        RoleSessionName=bucket[:64],
        Policy=json.dumps(read_only_policy(bucket)),
        DurationSeconds=duration,
    )
    credentials = reply["Credentials"]
    return {
        "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
        "AWS_SESSION_TOKEN": credentials["SessionToken"],
    }


def secret_object(namespace: str, name: str, labels: dict[str, str], values: dict[str, str]) -> dict[str, Any]:
    """The app's credentials Secret (``data``, so that a server-side re-apply compares equal)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "type": "Opaque",
        "data": {key: base64.b64encode(value.encode()).decode() for key, value in values.items()},
    }
