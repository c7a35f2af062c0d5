"""What the wire tells botocore's signer: our SHA-256 as the payload hash (never a hash of its own,
never UNSIGNED-PAYLOAD, also over HTTPS), the session token of temporary credentials, every header
given; the query as SigV4 wants it. (That MinIO accepts these signatures and refuses a body that
differs from its hash: tests/lab/migrate/test_target_lab.py.)"""

from __future__ import annotations

import hashlib

import pytest

from pdn.migrate.s3 import Endpoint
from pdn.migrate.wire import Signer, canonical_query

DIGEST = hashlib.sha256(b"the bytes copy read").hexdigest()


@pytest.mark.parametrize("url", ["http://127.0.0.1:9000", "https://s3.cikarang.pdn.go.id"])
def test_the_payload_hash_is_ours(url: str) -> None:
    signer = Signer(Endpoint(url, "AKIDEXAMPLE", "secret", "id-cikarang-1"))
    headers = signer.headers("PUT", "store:9000", "/b/k%20%C3%BC", "", {"x-amz-meta-sha256": DIGEST}, DIGEST)
    assert headers["X-Amz-Content-SHA256"] == DIGEST
    authorization = headers["Authorization"]
    assert authorization.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/id-cikarang-1/s3/aws4_request" in authorization
    signed = authorization.split("SignedHeaders=", 1)[1].split(",", 1)[0].split(";")
    assert {"host", "x-amz-content-sha256", "x-amz-date", "x-amz-meta-sha256"} <= set(signed)
    assert "X-Amz-Security-Token" not in headers


def test_a_session_token_is_sent_and_signed() -> None:
    endpoint = Endpoint("https://store", "ASIAEXAMPLE", "secret", "id-ikn-1", session_token="FwoG//token==")
    headers = Signer(endpoint).headers("GET", "store", "/b/k", "", {}, DIGEST)
    assert headers["X-Amz-Security-Token"] == "FwoG//token=="
    assert "x-amz-security-token" in headers["Authorization"].split("SignedHeaders=", 1)[1].split(",", 1)[0]


def test_another_payload_another_signature() -> None:
    signer = Signer(Endpoint("http://store", "AKIDEXAMPLE", "secret"))
    first = signer.headers("PUT", "store", "/b/k", "", {}, DIGEST)["Authorization"]
    other = signer.headers("PUT", "store", "/b/k", "", {}, hashlib.sha256(b"other").hexdigest())["Authorization"]
    assert first.rsplit("Signature=", 1)[1] != other.rsplit("Signature=", 1)[1]


def test_canonical_query() -> None:
    assert canonical_query({"uploads": "", "prefix": "a b/ü", "key-marker": "k&1~"}) == (
        "key-marker=k%261~&prefix=a%20b%2F%C3%BC&uploads="
    )
