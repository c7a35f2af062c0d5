"""The legacy-app stand-in against an S3 API on 127.0.0.1 (moto); MinIO is in the lab tier.

Data goes into the bucket the way the migration puts it there (``pdn.migrate.copy`` from a folder),
and the stand-in, started in-process on an ephemeral port with the environment a rendered
ConfigMap and Secret give, answers from it: health, readiness (503 for a missing bucket, missing
keys or an unreachable store), configuration, listing, and SHA-256 of an object read back.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from pdn.migrate import copy as copy_stage
from pdn.migrate import standin
from pdn.migrate.ledger import Ledger
from pdn.migrate.s3 import META_SHA, Endpoint, client
from pdn.migrate.sources import DirectorySource
from pdn.migrate.target import TargetStore

ACCESS, SECRET = "standin-access", "standin-secret-value-0123456789"
REGION = "id-cikarang-1"
FILES = {
    "index.html": b"<h1>SIMPEG</h1>\n",
    "arsip/2019/laporan tahunan ü.pdf": os.urandom(70_000),
    "arsip/2020/empty.txt": b"",
    "db/dump.sql": b"INSERT INTO pegawai VALUES (1);\n" * 300,
}


def get(url: str, method: str = "GET") -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert answer.headers["Content-Type"] == "application/json"
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        assert error.headers["Content-Type"] == "application/json"
        body = error.read()
        return error.code, json.loads(body) if body else {}


def environment(s3_url: str, bucket: str, data: Path, **extra: str) -> dict[str, str]:
    """What the rendered ConfigMap (``envFrom``) and the lead's Secret give the pod."""
    return {
        "PDN_LEGACY_APP_ID": "KEMENKEU-0042",
        "PDN_SITE": "cikarang",
        "PDN_S3_ENDPOINT": s3_url,
        "PDN_S3_REGION": REGION,
        "PDN_S3_BUCKET": bucket,
        "PDN_S3_ADDRESSING": "path",
        "PDN_DATA_DIR": str(data),
        "AWS_ACCESS_KEY_ID": ACCESS,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "PATH": os.environ.get("PATH", ""),
        **extra,
    }


@pytest.fixture
def migrated(s3_server: str, tmp_path: Path) -> str:
    """A bucket filled by the migration's own copy from a folder; returns its name."""
    source = tmp_path / "legacy"
    for key, data in FILES.items():
        (source / key).parent.mkdir(parents=True, exist_ok=True)
        (source / key).write_bytes(data)
    bucket = f"app-{uuid.uuid4().hex[:12]}"
    with TargetStore(Endpoint(s3_server, ACCESS, SECRET, REGION)) as store, Ledger(tmp_path / "l.sqlite") as ledger:
        store.ensure_bucket(bucket)
        report = copy_stage.copy(store, DirectorySource(source), bucket, "", ledger, workers=2)
    assert report.copied == len(FILES)
    return bucket


def test_endpoints_answer_from_the_migrated_bucket(
    serve: Callable[[dict[str, str]], str], s3_server: str, migrated: str, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    base = serve(environment(s3_server, migrated, data, PDN_EXTRA_FLAG="1"))

    assert get(f"{base}/healthz") == (200, {"status": "alive", "app_id": "KEMENKEU-0042"})
    status, ready = get(f"{base}/readyz")
    assert status == 200 and ready["status"] == "ready" and ready["bucket"] == migrated

    status, config = get(f"{base}/config")
    assert status == 200
    assert config["app_id"] == "KEMENKEU-0042" and config["site"] == "cikarang"
    assert (config["bucket"], config["endpoint"], config["region"], config["addressing"]) == (
        migrated, s3_server, REGION, "path",
    )  # fmt: skip
    assert config["credentials"] == {
        "AWS_ACCESS_KEY_ID": True,
        "AWS_SECRET_ACCESS_KEY": True,
        "AWS_SESSION_TOKEN": False,
    }
    assert config["data"] == {"path": str(data), "mounted": False, "writable": True, "problem": None}
    assert json.loads((data / standin.MARKER).read_text())["app_id"] == "KEMENKEU-0042"
    assert config["pdn_variables"] == [
        "PDN_DATA_DIR", "PDN_EXTRA_FLAG", "PDN_LEGACY_APP_ID", "PDN_S3_ADDRESSING", "PDN_S3_BUCKET",
        "PDN_S3_ENDPOINT", "PDN_S3_REGION", "PDN_SITE",
    ]  # fmt: skip
    assert config["problems"] == []
    assert SECRET not in json.dumps(config) and ACCESS not in json.dumps(config)

    status, listing = get(f"{base}/data")
    assert status == 200
    assert listing["objects"] == len(FILES) and listing["bytes"] == sum(len(d) for d in FILES.values())
    assert {item["key"]: item["size"] for item in listing["keys"]} == {k: len(d) for k, d in FILES.items()}
    assert listing["truncated"] is False

    for key, content in FILES.items():
        status, proof = get(f"{base}/data/sha256?key={quote(key)}")
        assert status == 200, proof
        expected = hashlib.sha256(content).hexdigest()
        assert (proof["key"], proof["sha256"], proof["size"]) == (key, expected, len(content))
        assert proof["stored_sha256"] == expected and proof["matches_stored"] is True


def test_an_object_changed_after_the_copy_shows_as_not_matching(
    serve: Callable[[dict[str, str]], str], s3_server: str, migrated: str, tmp_path: Path
) -> None:
    """The proof hashes the bytes read, not the stored metadata: tampered bytes do not match it."""
    s3 = client(Endpoint(s3_server, ACCESS, SECRET, REGION))
    stored = hashlib.sha256(FILES["index.html"]).hexdigest()
    s3.put_object(Bucket=migrated, Key="index.html", Body=b"defaced", Metadata={META_SHA: stored})
    s3.put_object(Bucket=migrated, Key="no-meta.txt", Body=b"plain")
    base = serve(environment(s3_server, migrated, tmp_path))
    status, proof = get(f"{base}/data/sha256?key=index.html")
    assert status == 200
    assert proof["sha256"] == hashlib.sha256(b"defaced").hexdigest() and proof["size"] == 7
    assert proof["stored_sha256"] == stored and proof["matches_stored"] is False
    status, proof = get(f"{base}/data/sha256?key=no-meta.txt")
    assert (status, proof["stored_sha256"], proof["matches_stored"]) == (200, None, None)


@pytest.mark.parametrize(
    "query",
    [
        "",  # no key
        "key=",  # empty
        "key=a%0Ab",  # newline
        "key=a%00b",  # NUL
        "key=%7F",  # DEL
        "key=%FF%FE",  # not UTF-8
        f"key={'k' * 1025}",  # longer than S3 allows
        "key=a&key=b",  # two keys
        "key=a&other=b",  # something else too
        "nokey",  # not key=value
    ],
)
def test_a_bad_key_is_refused_with_json(
    serve: Callable[[dict[str, str]], str], s3_server: str, migrated: str, tmp_path: Path, query: str
) -> None:
    base = serve(environment(s3_server, migrated, tmp_path))
    status, body = get(f"{base}/data/sha256?{query}")
    assert status == 400 and body["status"] == 400 and body["error"]


def test_absent_objects_unknown_paths_and_other_methods(
    serve: Callable[[dict[str, str]], str], s3_server: str, migrated: str, tmp_path: Path
) -> None:
    base = serve(environment(s3_server, migrated, tmp_path))
    status, body = get(f"{base}/data/sha256?key=not/there.bin")
    assert status == 404 and "S3 said" in body["error"]
    assert get(f"{base}/nowhere")[0] == 404
    assert get(f"{base}/../etc/passwd")[0] == 404
    status, body = get(f"{base}/data", method="POST")
    assert status == 405 and "only GET" in body["error"]
    assert get(f"{base}/healthz", method="DELETE")[0] == 405


def test_a_malformed_request_gets_json_and_no_traceback(
    serve: Callable[[dict[str, str]], str], s3_server: str, migrated: str, tmp_path: Path
) -> None:
    base = serve(environment(s3_server, migrated, tmp_path))
    port = int(base.rsplit(":", 1)[1])

    def raw(request: bytes) -> str:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(request)
            return sock.makefile("rb").read().decode()

    # a request line http.server cannot parse gets an HTTP/0.9 answer: the body alone
    assert json.loads(raw(b"GARBAGE\r\n\r\n")) == {"error": "Bad Request", "status": 400}
    assert json.loads(raw(b"GET /healthz HTTP/2.0\r\n\r\n"))["status"] == 505
    headers = b"".join(b"X-%d: y\r\n" % n for n in range(120))  # more than http.client accepts
    head, _, body = raw(b"GET /healthz HTTP/1.1\r\n" + headers + b"\r\n").partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 431") and "Content-Type: application/json" in head
    assert json.loads(body) == {"error": "Request Header Fields Too Large", "status": 431}


def test_a_missing_bucket_is_not_ready(serve: Callable[[dict[str, str]], str], s3_server: str, tmp_path: Path) -> None:
    base = serve(environment(s3_server, f"absent-{uuid.uuid4().hex[:10]}", tmp_path))
    assert get(f"{base}/healthz")[0] == 200  # alive, only not ready
    status, ready = get(f"{base}/readyz")
    assert status == 503 and ready["status"] == "not ready" and "NoSuchBucket" in ready["reason"]
    status, body = get(f"{base}/data")
    assert status == 404 and "NoSuchBucket" in body["error"]


def test_missing_keys_are_not_ready(
    serve: Callable[[dict[str, str]], str], s3_server: str, migrated: str, tmp_path: Path
) -> None:
    """A Secret without the secret key: not ready, and nothing is read (wrong keys: lab tier)."""
    env = environment(s3_server, migrated, tmp_path)
    del env["AWS_SECRET_ACCESS_KEY"]
    base = serve(env)
    status, ready = get(f"{base}/readyz")
    assert status == 503 and "no S3 credentials" in ready["reason"]
    status, config = get(f"{base}/config")
    assert config["credentials"] == {
        "AWS_ACCESS_KEY_ID": True,
        "AWS_SECRET_ACCESS_KEY": False,
        "AWS_SESSION_TOKEN": False,
    }
    assert get(f"{base}/data")[0] == 503
    assert get(f"{base}/data/sha256?key=index.html")[0] == 503


def test_an_unreachable_store_is_not_ready(serve: Callable[[dict[str, str]], str], tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"  # bound, never listening: refused
        base = serve(environment(closed, "app-bucket", tmp_path))
        status, ready = get(f"{base}/readyz")
    assert status == 503 and "unreachable" in ready["reason"]


def test_configuration_problems_are_reported_not_fatal(serve: Callable[[dict[str, str]], str], tmp_path: Path) -> None:
    env = environment("ftp://store", "Not_A_Bucket", tmp_path / "absent", PDN_S3_ADDRESSING="virtual")
    base = serve(env)
    assert get(f"{base}/healthz")[0] == 200
    status, config = get(f"{base}/config")
    assert status == 200
    assert config["data"]["writable"] is False and config["data"]["problem"] == "not a folder"
    assert len(config["problems"]) == 3  # bucket name, endpoint scheme, addressing
    status, ready = get(f"{base}/readyz")
    assert status == 503 and "PDN_S3_BUCKET is not a valid bucket name" in ready["reason"]


def test_endpoint_credentials_in_the_url_are_not_shown() -> None:
    settings = standin.Settings.from_env({"PDN_S3_ENDPOINT": "https://user:hunter2@s3.example:9000/base"})
    assert settings.shown_endpoint() == "https://s3.example:9000/base"


def test_readiness_is_kept_for_its_seconds() -> None:
    calls: list[int] = []

    def check() -> str | None:
        calls.append(1)
        return None if len(calls) > 1 else "first"

    kept = standin.Readiness(check, seconds=3600)
    assert kept.reason()[0] == "first" and kept.reason()[0] == "first" and len(calls) == 1
    fresh = standin.Readiness(check, seconds=0)
    assert fresh.reason()[0] is None and fresh.reason()[0] is None and len(calls) == 3


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_module_logs_one_line_per_request_and_stops_on_sigterm(s3_server: str, migrated: str, tmp_path: Path) -> None:
    port = free_port()
    env = environment(s3_server, migrated, tmp_path, PORT=str(port), HOST="127.0.0.1")
    env["PYTHONPATH"] = str(Path(standin.__file__).resolve().parents[2])
    process = subprocess.Popen(
        [sys.executable, "-m", "pdn.migrate.standin"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        first = json.loads(process.stdout.readline())
        assert first["event"] == "serving" and first["port"] == port
        paths = ["/healthz", "/readyz", "/config", "/data", "/data/sha256?key=index.html", "/data/sha256?key="]
        statuses = [get(f"http://127.0.0.1:{port}{path}")[0] for path in paths]
        assert statuses == [200, 200, 200, 200, 200, 400]
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0
    lines = [json.loads(line) for line in out.decode().splitlines()]
    requests = [line for line in lines if "method" in line]
    assert [(line["path"], line["status"]) for line in requests] == list(zip(paths, statuses, strict=True))
    assert lines[-1] == {"event": "stopped"}
    everything = out.decode() + err.decode()
    assert SECRET not in everything and ACCESS not in everything and "Traceback" not in everything


def test_a_bad_port_exits_with_a_message(capsys: pytest.CaptureFixture[str]) -> None:
    assert standin.main({"PORT": "http"}) == 2
    assert "PORT must be a TCP port number" in capsys.readouterr().out
