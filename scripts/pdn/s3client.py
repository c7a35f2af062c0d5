"""The one way pdn builds a boto3 S3 (and STS) client (backups, the bucket provider of the stacks, migration
sources and tests).

MinIO and Ceph RGW need path-style addressing, and ``when_required`` checksums: newer boto3
sends CRC checksums by default, which many S3-compatible stores reject or store differently.
The proxy is the one :func:`pdn.proxyenv.proxy_for` names (``NO_PROXY`` matched as curl does,
not as Python's ``urllib`` does). Callers differ only in how patient they are (retries,
timeouts) and how many connections they keep.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pdn.errors import PdnError
from pdn.proxyenv import proxy_for


def _verify_value(session: Any) -> bool | str:
    """TLS verification as a botocore client resolves it: ``AWS_CA_BUNDLE`` / the config file's
    ``ca_bundle``, else ``REQUESTS_CA_BUNDLE``, else the default trust store."""
    bundle = session.get_config_variable("ca_bundle")
    if bundle:
        return str(bundle)
    return os.environ.get("REQUESTS_CA_BUNDLE") or True


def tls_verify() -> bool | str:
    """TLS verification for the target store, resolved as a boto3 client resolves it.

    botocore's session costs about 0.16 s to build, so it is only asked when a config file
    exists that could name a ``ca_bundle``; otherwise the environment decides.
    """
    if os.environ.get("AWS_CA_BUNDLE"):
        return os.environ["AWS_CA_BUNDLE"]
    if Path(os.environ.get("AWS_CONFIG_FILE", "~/.aws/config")).expanduser().is_file():
        from botocore.session import Session

        return _verify_value(Session())
    return os.environ.get("REQUESTS_CA_BUNDLE") or True


def botocore_proxies(endpoint: str, verify: bool | str | None = None) -> tuple[dict[str, str], dict[str, Any]]:
    """``proxies`` and ``proxies_config`` for botocore: the proxy for ``endpoint`` or none at all.

    An empty mapping makes botocore send directly (it consults the environment only when given
    None); an ``https://`` proxy is verified with the store's CA bundle when one is set
    (``verify``, default: :func:`tls_verify`).
    """
    proxy = proxy_for(endpoint)
    if proxy is None:
        return {}, {}
    scheme = endpoint.split("://", 1)[0]
    if scheme == "http" and proxy.scheme == "https":
        # botocore sends plain-http requests to an https proxy without verifying its certificate
        raise PdnError(
            f"the environment names the https:// proxy {proxy.url} for the plain http:// endpoint {endpoint}, "
            "and botocore would not verify that proxy's certificate",
            hint="use the store's https:// endpoint, an http:// proxy URL, or exempt the store in NO_PROXY",
        )
    config: dict[str, Any] = {}
    if proxy.scheme == "https":
        bundle = tls_verify() if verify is None else verify
        if isinstance(bundle, str):
            config["proxy_ca_bundle"] = bundle
    return {scheme: proxy.url_with_credentials}, config


def s3_client(
    endpoint: str,
    region: str,
    access_key: str,
    secret_key: str,
    *,
    session_token: str | None = None,
    attempts: int = 5,
    connect_timeout: float = 10,
    read_timeout: float = 60,
    pool: int = 10,
) -> Any:
    """A boto3 S3 client for ``endpoint`` that works with AWS, MinIO and Ceph RGW.

    ``attempts`` counts the first try (botocore's ``standard`` retry mode); TLS verification is
    botocore's own (``AWS_CA_BUNDLE``, the config file's ``ca_bundle``, ``REQUESTS_CA_BUNDLE``).
    ``session_token`` is for temporary (STS) credentials.
    """
    return _client(
        "s3", endpoint, region, access_key, secret_key, session_token, attempts, connect_timeout, read_timeout, pool
    )


def sts_client(endpoint: str, region: str, access_key: str, secret_key: str, *, attempts: int = 5) -> Any:
    """A boto3 STS client for the store at ``endpoint`` (MinIO answers STS on the S3 endpoint):
    for temporary credentials narrowed by a session policy (``AssumeRole``)."""
    return _client("sts", endpoint, region, access_key, secret_key, None, attempts, 10, 60, 2)


def _client(
    service: str,
    endpoint: str,
    region: str,
    access_key: str,
    secret_key: str,
    session_token: str | None,
    attempts: int,
    connect_timeout: float,
    read_timeout: float,
    pool: int,
) -> Any:
    import boto3
    from botocore.config import Config

    proxies, proxies_config = botocore_proxies(endpoint)
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        aws_session_token=session_token,
        config=Config(
            s3={"addressing_style": "path"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            retries={"max_attempts": attempts, "mode": "standard"},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_pool_connections=pool,
            proxies=proxies,
            proxies_config=proxies_config or None,
        ),
    )
