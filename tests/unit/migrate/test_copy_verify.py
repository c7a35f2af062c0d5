"""copy and verify through boto3 against an S3 API on 127.0.0.1 (moto); MinIO is in the lab tier.

Covers: round trip with multipart objects, skip on re-run, changed source re-copied, corrupted
target detected, dry run writes nothing, kill -9 during copy then re-run finishes.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pdn.errors import InputError
from pdn.migrate import copy as copy_stage
from pdn.migrate import verify as verify_stage
from pdn.migrate.ledger import Ledger
from pdn.migrate.s3 import Endpoint, client
from pdn.migrate.sources import DirectorySource
from pdn.migrate.target import TargetStore

KEYS = {"PDN_S3_ACCESS_KEY": "testing", "PDN_S3_SECRET_KEY": "testing-secret"}


def make_tree(root: Path, files: int, size: int, big: int = 0) -> None:
    for index in range(files):
        folder = root / f"dir{index % 7}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"file-{index:04d}.bin").write_bytes(os.urandom(size))
    for index in range(big):
        (root / f"big-{index}.bin").write_bytes(os.urandom(20 * 1024 * 1024 + 12345))  # multipart


@pytest.fixture
def s3(s3_server: str) -> object:
    return client(Endpoint(s3_server, KEYS["PDN_S3_ACCESS_KEY"], KEYS["PDN_S3_SECRET_KEY"], "id-cikarang-1"))


@pytest.fixture
def store(s3_server: str) -> Iterator[TargetStore]:
    """The target as copy and verify talk to it (the boto3 client ``s3`` checks what they did)."""
    endpoint = Endpoint(s3_server, KEYS["PDN_S3_ACCESS_KEY"], KEYS["PDN_S3_SECRET_KEY"], "id-cikarang-1")
    with TargetStore(endpoint) as direct:
        yield direct


def test_round_trip_resume_and_change(tmp_path: Path, s3: object, store: TargetStore) -> None:
    source_dir = tmp_path / "src"
    make_tree(source_dir, 30, 5000, big=1)
    source = DirectorySource(source_dir)
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        report = copy_stage.copy(store, source, "mig-round-trip", "", ledger, workers=4)
        assert (report.copied, report.skipped) == (31, 0)
        again = copy_stage.copy(store, source, "mig-round-trip", "", ledger, workers=4)
        assert (again.copied, again.skipped) == (0, 31)
        checked = verify_stage.verify(store, "mig-round-trip", "", ledger, source)
        assert (checked.ok, checked.mismatched, checked.missing) == (31, [], [])
        changed = source_dir / "dir0" / "file-0000.bin"
        changed.write_bytes(b"new content")
        os.utime(changed, ns=(time.time_ns(), time.time_ns() + 10**9))
        before = verify_stage.verify(store, "mig-round-trip", "", ledger, source)
        assert before.missing == ["dir0/file-0000.bin"]
        third = copy_stage.copy(store, source, "mig-round-trip", "", ledger, workers=4)
        assert third.copied == 1
        assert verify_stage.verify(store, "mig-round-trip", "", ledger, source).ok == 31
        head = s3.head_object(Bucket="mig-round-trip", Key="big-0.bin")  # type: ignore[attr-defined]
        assert head["Metadata"]["sha256"] == ledger.get("big-0.bin").sha256  # type: ignore[union-attr]


def test_a_purged_target_voids_the_ledger_and_the_rerun_copies_all(tmp_path: Path, s3: Any, store: TargetStore) -> None:
    """The store was rebuilt (lab purged, bucket deleted): a re-run must not trust the ledger."""
    source_dir = tmp_path / "src"
    make_tree(source_dir, 5, 2000)
    source = DirectorySource(source_dir)
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        assert copy_stage.copy(store, source, "mig-purged", "", ledger, workers=2).copied == 5
        for item in s3.list_objects_v2(Bucket="mig-purged")["Contents"]:
            s3.delete_object(Bucket="mig-purged", Key=item["Key"])
        s3.delete_bucket(Bucket="mig-purged")
        again = copy_stage.copy(store, source, "mig-purged", "", ledger, workers=2)
        assert (again.copied, again.skipped, again.target_lost) == (5, 0, True)
        assert verify_stage.verify(store, "mig-purged", "", ledger, source).ok == 5
        third = copy_stage.copy(store, source, "mig-purged", "", ledger, workers=2)
        assert (third.copied, third.skipped, third.target_lost) == (0, 5, False)


def test_verify_detects_a_corrupted_target(tmp_path: Path, s3: object, store: TargetStore) -> None:
    make_tree(tmp_path / "src", 5, 1000)
    source = DirectorySource(tmp_path / "src")
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        copy_stage.copy(store, source, "mig-corrupt", "pre/fix", ledger)
        s3.put_object(Bucket="mig-corrupt", Key="pre/fix/dir1/file-0001.bin", Body=b"tampered")  # type: ignore[attr-defined]
        report = verify_stage.verify(store, "mig-corrupt", "pre/fix", ledger, source)
        assert report.mismatched == ["dir1/file-0001.bin"] and report.ok == 4
        assert ledger.get("dir1/file-0001.bin").state == "mismatch"  # type: ignore[union-attr]
        # a mismatch is not "done": the next copy run repairs it
        assert copy_stage.copy(store, source, "mig-corrupt", "pre/fix", ledger).copied == 1
        assert verify_stage.verify(store, "mig-corrupt", "pre/fix", ledger, source).ok == 5


def test_dry_run_writes_nothing(tmp_path: Path, s3: object, store: TargetStore) -> None:
    from botocore.exceptions import ClientError

    make_tree(tmp_path / "src", 3, 100)
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        report = copy_stage.copy(store, DirectorySource(tmp_path / "src"), "mig-dry", "", ledger, dry_run=True)
        assert report.copied == 3 and list(ledger.entries()) == []
    with pytest.raises(ClientError):
        s3.head_bucket(Bucket="mig-dry")  # type: ignore[attr-defined]


def test_ledger_refuses_another_target(tmp_path: Path, s3: object, store: TargetStore) -> None:
    make_tree(tmp_path / "src", 2, 100)
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        copy_stage.copy(store, DirectorySource(tmp_path / "src"), "mig-one", "", ledger)
        with pytest.raises(InputError, match="records copies to"):
            copy_stage.copy(store, DirectorySource(tmp_path / "src"), "mig-two", "", ledger)


def _copied(ledger: Path) -> int:
    try:
        with sqlite3.connect(ledger) as db:
            return int(db.execute("SELECT COUNT(*) FROM objects WHERE state = 'copied'").fetchone()[0])
    except sqlite3.Error:
        return 0


def test_kill_during_copy_then_rerun_finishes(tmp_path: Path, s3_server: str) -> None:
    """SIGKILL the CLI in the middle of a copy; the re-run completes and verify proves every byte."""
    make_tree(tmp_path / "src", 400, 40_000, big=2)
    out = tmp_path / "out"
    env = {**os.environ, **KEYS}
    command = [
        sys.executable,
        "-m",
        "pdn.cli",
        "migrate",
        "copy",
        "APP-000001",
        "--source",
        str(tmp_path / "src"),
        "--site",
        "cikarang",
        "--endpoint",
        s3_server,
        "-o",
        str(out),
        "--workers",
        "4",
    ]
    runner = "from pdn.cli import main; main()"
    process = subprocess.Popen(
        [sys.executable, "-c", runner, *command[3:]], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    ledger = out / "copy" / "APP-000001.sqlite"
    deadline = time.monotonic() + 120
    while _copied(ledger) < 40 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.poll() is None, "copy finished before it could be killed; make the tree bigger"
    process.send_signal(signal.SIGKILL)
    process.wait()
    partial = _copied(ledger)
    assert 0 < partial < 402
    finish = subprocess.run(
        [sys.executable, "-c", runner, *command[3:]], env=env, capture_output=True, text=True, timeout=300
    )
    assert finish.returncode == 0, finish.stderr
    assert "already done" in finish.stdout
    verify = subprocess.run(
        [
            sys.executable,
            "-c",
            runner,
            "migrate",
            "verify",
            "APP-000001",
            "--source",
            str(tmp_path / "src"),
            "--site",
            "cikarang",
            "--endpoint",
            s3_server,
            "-o",
            str(out),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert verify.returncode == 0, verify.stderr
    assert "all 402 objects match" in verify.stdout


def test_bucket_to_bucket(tmp_path: Path, s3: Any, store: TargetStore) -> None:
    """An s3:// legacy store as the source, with a prefix, small and multipart objects."""
    from pdn.migrate.s3 import ensure_bucket
    from pdn.migrate.sources import BucketSource

    ensure_bucket(s3, "legacy-store")
    payloads = {f"app7/docs/{i}.pdf": os.urandom(3000 + i) for i in range(12)}
    payloads["app7/db/dump.sql"] = os.urandom(17 * 1024 * 1024)
    for key, body in payloads.items():
        s3.put_object(Bucket="legacy-store", Key=key, Body=body)
    s3.put_object(Bucket="legacy-store", Key="other/skip.txt", Body=b"not this app")
    source = BucketSource(s3, "s3://legacy-store/app7/")
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        report = copy_stage.copy(store, source, "mig-from-bucket", "", ledger, workers=4)
        assert report.copied == 13
        checked = verify_stage.verify(store, "mig-from-bucket", "", ledger, source)
        assert (checked.ok, checked.mismatched, checked.missing) == (13, [], [])
    body = s3.get_object(Bucket="mig-from-bucket", Key="db/dump.sql")["Body"].read()
    assert body == payloads["app7/db/dump.sql"]


def test_one_process_per_ledger(tmp_path: Path) -> None:
    with Ledger(tmp_path / "ledger.sqlite"), pytest.raises(InputError, match="another pdn process"):
        Ledger(tmp_path / "ledger.sqlite")
    with Ledger(tmp_path / "ledger.sqlite") as again:  # released on close
        assert list(again.entries()) == []
