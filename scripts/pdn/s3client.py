"""The one way pdn builds a boto3 S3 client (backups, the bucket provider of the stacks, migration
sources and tests).

MinIO and Ceph RGW need path-style addressing, and ``when_required`` checksums: newer boto3
sends CRC checksums by default, which many S3-compatible stores reject or store differently.
Callers differ only in how patient they are (retries, timeouts) and how many connections
they keep.
"""

from __future__ import annotations

from typing import Any


def s3_client(
    endpoint: str,
    region: str,
    access_key: str,
    secret_key: str,
    *,
    attempts: int = 5,
    connect_timeout: float = 10,
    read_timeout: float = 60,
    pool: int = 10,
) -> Any:
    """A boto3 S3 client for ``endpoint`` that works with AWS, MinIO and Ceph RGW.

    ``attempts`` counts the first try (botocore's ``standard`` retry mode); TLS verification is
    botocore's own (``AWS_CA_BUNDLE``, the config file's ``ca_bundle``, ``REQUESTS_CA_BUNDLE``).
    """
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=Config(
            s3={"addressing_style": "path"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            retries={"max_attempts": attempts, "mode": "standard"},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_pool_connections=pool,
        ),
    )
