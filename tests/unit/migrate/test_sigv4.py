"""pdn's SigV4 signer gives the same Authorization as botocore's ``S3SigV4Auth`` for the requests
copy and verify send (PUT with metadata, parts, GET, multipart POSTs with valueless query
parameters, keys that need URL encoding)."""

from __future__ import annotations

import datetime
import hashlib
from typing import Any
from urllib.parse import quote

import pytest

from pdn.migrate.sigv4 import SigV4, canonical_query

ACCESS, SECRET, REGION = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "id-cikarang-1"
HOST = "127.0.0.1:9000"
Request = tuple[str, str, str, str, dict[str, str], str]  # method, host, path, query, headers, payload hash
NOW = datetime.datetime(2026, 11, 29, 23, 59, 58, tzinfo=datetime.UTC)


def botocore_authorization(
    method: str, path: str, params: dict[str, str], headers: dict[str, str], payload: str, monkeypatch: Any
) -> dict[str, str]:
    from botocore import auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    class KnownPayload(auth.S3SigV4Auth):  # type: ignore[misc]
        def payload(self, request: Any) -> str:
            return payload

    monkeypatch.setattr(auth, "get_current_datetime", lambda: NOW.replace(tzinfo=None))
    request = AWSRequest(method=method, url=f"http://{HOST}{path}", headers=dict(headers), params=dict(params))
    KnownPayload(Credentials(ACCESS, SECRET), "s3", REGION).add_auth(request)
    return dict(request.headers.items())


CASES = [
    ("PUT", "mig-app/dir/file.bin", {}, {"x-amz-meta-sha256": "ab" * 32}, hashlib.sha256(b"body").hexdigest()),
    ("PUT", "mig-app/big.bin", {"partNumber": "3", "uploadId": "u/+=1"}, {}, hashlib.sha256(b"part").hexdigest()),
    ("GET", "mig-app/pre fix/ü ber+plus~tilde.txt", {}, {}, hashlib.sha256(b"").hexdigest()),
    ("POST", "mig-app/big.bin", {"uploads": ""}, {"x-amz-meta-sha256": "cd" * 32}, hashlib.sha256(b"").hexdigest()),
    ("GET", "mig-app", {"uploads": "", "prefix": "a b/", "key-marker": "k&1"}, {}, hashlib.sha256(b"").hexdigest()),
    ("HEAD", "mig-app", {}, {"Content-Type": "  text/plain   two  spaces "}, hashlib.sha256(b"").hexdigest()),
]


@pytest.mark.parametrize(("method", "key", "params", "headers", "payload"), CASES)
def test_same_signature_as_botocore(
    method: str,
    key: str,
    params: dict[str, str],
    headers: dict[str, str],
    payload: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = "/" + quote(key, safe="/~")
    ours = SigV4(ACCESS, SECRET, REGION).headers(
        method, HOST, path, canonical_query(params), headers, payload, now=NOW.timestamp()
    )
    theirs = botocore_authorization(method, path, params, headers, payload, monkeypatch)
    assert ours["Authorization"] == theirs["Authorization"]
    assert ours["X-Amz-Date"] == theirs["X-Amz-Date"] == "20261129T235958Z"


def _empty_request(method: str) -> Request:
    return (method, HOST, "/b/k", "", {}, hashlib.sha256(b"").hexdigest())


def test_other_secret_other_signature() -> None:
    args = _empty_request("PUT")
    first = SigV4(ACCESS, SECRET, REGION).headers(*args, now=NOW.timestamp())
    other = SigV4(ACCESS, SECRET + "x", REGION).headers(*args, now=NOW.timestamp())
    assert first["Authorization"] != other["Authorization"]


def test_signing_key_follows_the_day() -> None:
    signer = SigV4(ACCESS, SECRET, REGION)
    args = _empty_request("GET")
    today = signer.headers(*args, now=NOW.timestamp())
    tomorrow = signer.headers(*args, now=NOW.timestamp() + 2)  # 2 s later is the next UTC day
    assert "/20261129/" in today["Authorization"] and "/20261130/" in tomorrow["Authorization"]
    fresh = SigV4(ACCESS, SECRET, REGION).headers(*args, now=NOW.timestamp() + 2)
    assert tomorrow["Authorization"] == fresh["Authorization"]  # the cached key was replaced, not reused
