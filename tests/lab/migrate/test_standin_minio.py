"""The legacy-app stand-in against the lab's real MinIO: it proves it reads the app's migrated data.

The bucket is filled by the migration's own copy (one object large enough for a multipart upload,
whose ETag is no MD5), then the stand-in, given the environment a rendered ConfigMap and the S3
Secret give a pod, answers ``/data/sha256`` with the SHA-256 of the bytes it read, which must equal
the SHA-256 of the bytes uploaded. MinIO checks signatures for real: a wrong secret is not ready.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from botocore.exceptions import ClientError

from pdn.migrate import copy as copy_stage
from pdn.migrate import standin
from pdn.migrate.ledger import Ledger
from pdn.migrate.s3 import Endpoint, client
from pdn.migrate.sources import DirectorySource
from pdn.migrate.target import TargetStore

SITE = "cikarang"


def get(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=60) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture
def endpoint(lab: Any) -> Endpoint:
    access, secret = lab.s3_credentials(SITE)
    return Endpoint(lab.s3_endpoint(SITE), access, secret, lab.s3_region(SITE))


@pytest.fixture
def uploaded(endpoint: Endpoint, tmp_path: Path) -> Iterator[tuple[str, dict[str, bytes]]]:
    """(bucket, key -> bytes) after ``pdn.migrate.copy`` moved a legacy folder into a fresh bucket."""
    files = {
        "index.php": b"<?php echo 'SIMPEG'; ?>\n",
        "uploads/2021/surat keputusan ü.pdf": os.urandom(300_000),
        "backup/db.sql.gz": os.urandom(20 * 1024 * 1024 + 4321),  # multipart: ETag is not an MD5
        "kosong.txt": b"",
    }
    source = tmp_path / "legacy"
    for key, data in files.items():
        (source / key).parent.mkdir(parents=True, exist_ok=True)
        (source / key).write_bytes(data)
    bucket = f"standin-{uuid.uuid4().hex[:10]}"
    with TargetStore(endpoint) as store, Ledger(tmp_path / "ledger.sqlite") as ledger:
        store.ensure_bucket(bucket)
        assert copy_stage.copy(store, DirectorySource(source), bucket, "", ledger, workers=2).copied == len(files)
    yield bucket, files
    s3 = client(endpoint)
    try:
        for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
            s3.delete_object(Bucket=bucket, Key=item["Key"])
        s3.delete_bucket(Bucket=bucket)
    except ClientError as error:
        if error.response["Error"]["Code"] != "NoSuchBucket":
            raise


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[[Endpoint, str, str], str]]:
    """Start a stand-in in-process on an ephemeral 127.0.0.1 port, configured as a pod would be."""
    servers: list[standin.Server] = []

    def start(endpoint: Endpoint, bucket: str, secret: str) -> str:
        env = {
            "PDN_LEGACY_APP_ID": "KEMENDAGRI-0007",
            "PDN_SITE": SITE,
            "PDN_S3_ENDPOINT": endpoint.url,
            "PDN_S3_REGION": endpoint.region,
            "PDN_S3_BUCKET": bucket,
            "PDN_S3_ADDRESSING": "path",
            "PDN_DATA_DIR": str(tmp_path),
            "AWS_ACCESS_KEY_ID": endpoint.access_key,
            "AWS_SECRET_ACCESS_KEY": secret,
        }
        server = standin.make_server(standin.build(env), "127.0.0.1", 0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_standin_proves_it_reads_the_uploaded_bytes(
    serve: Callable[[Endpoint, str, str], str], endpoint: Endpoint, uploaded: tuple[str, dict[str, bytes]]
) -> None:
    bucket, files = uploaded
    base = serve(endpoint, bucket, endpoint.secret_key)
    status, ready = get(f"{base}/readyz")
    assert status == 200, ready
    status, listing = get(f"{base}/data")
    assert status == 200
    assert (listing["objects"], listing["bytes"]) == (len(files), sum(len(data) for data in files.values()))
    assert {item["key"]: item["size"] for item in listing["keys"]} == {key: len(data) for key, data in files.items()}
    for key, data in files.items():
        status, proof = get(f"{base}/data/sha256?key={quote(key)}")
        assert status == 200, proof
        assert proof["sha256"] == hashlib.sha256(data).hexdigest() and proof["size"] == len(data)
        assert proof["stored_sha256"] == proof["sha256"] and proof["matches_stored"] is True
    status, absent = get(f"{base}/data/sha256?key=not-there")
    assert status == 404 and "S3 said" in absent["error"]


def test_a_wrong_secret_or_a_missing_bucket_is_not_ready(
    serve: Callable[[Endpoint, str, str], str], endpoint: Endpoint, uploaded: tuple[str, dict[str, bytes]]
) -> None:
    bucket, _ = uploaded
    wrong = "not-the-secret-" + uuid.uuid4().hex
    base = serve(endpoint, bucket, wrong)
    status, ready = get(f"{base}/readyz")
    assert status == 503 and "SignatureDoesNotMatch" in ready["reason"], ready
    status, body = get(f"{base}/data/sha256?key=index.php")
    assert status == 502 and wrong not in json.dumps(body) and endpoint.secret_key not in json.dumps(body)
    base = serve(endpoint, f"absent-{uuid.uuid4().hex[:10]}", endpoint.secret_key)
    status, ready = get(f"{base}/readyz")
    assert status == 503 and "NoSuchBucket" in ready["reason"]
