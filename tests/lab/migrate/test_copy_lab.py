"""copy and verify into real MinIO: the lab site's store, then fault injection on a private one
(SIGKILL of copy, MinIO killed and restarted mid-copy): re-runs finish and verify proves it."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

RUNNER = "from pdn.cli import main; main()"


def make_tree(root: Path, files: int, size: int, big: int = 0) -> int:
    for index in range(files):
        folder = root / f"d{index % 9}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{index:05d}.dat").write_bytes(os.urandom(size))
    for index in range(big):
        (root / f"big{index}.dat").write_bytes(os.urandom(48 * 1024 * 1024 + 7))
    return files + big


def pdn(*args: str, env: dict[str, str], timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", RUNNER, *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def copied(ledger: Path) -> int:
    try:
        with sqlite3.connect(ledger) as db:
            return int(db.execute("SELECT COUNT(*) FROM objects WHERE state = 'copied'").fetchone()[0])
    except sqlite3.Error:
        return 0


def test_copy_and_verify_into_the_site_minio(lab: Any, tmp_path: Path) -> None:
    site = "cikarang"
    access, secret = lab.s3_credentials(site)
    env = {**os.environ, "PDN_S3_ACCESS_KEY": access, "PDN_S3_SECRET_KEY": secret}
    count = make_tree(tmp_path / "src", 120, 30_000, big=1)
    app_id = f"APP-LAB{os.getpid()}"
    common = ["--site", site, "--endpoint", lab.s3_endpoint(site), "-o", str(tmp_path / "out")]
    first = pdn("migrate", "copy", app_id, "--source", str(tmp_path / "src"), *common, env=env)
    assert first.returncode == 0, first.stderr
    assert f"copied {count} objects" in first.stdout
    again = pdn("migrate", "copy", app_id, "--source", str(tmp_path / "src"), *common, env=env)
    assert "copied 0 objects" in again.stdout and f"{count} already done" in again.stdout
    verify = pdn("migrate", "verify", app_id, "--source", str(tmp_path / "src"), *common, env=env)
    assert verify.returncode == 0 and f"all {count} objects match" in verify.stdout, verify.stderr


def test_kill_copy_and_restart_minio_then_finish(own_minio: Any, tmp_path: Path) -> None:
    env = {**os.environ, "PDN_S3_ACCESS_KEY": own_minio.access, "PDN_S3_SECRET_KEY": own_minio.secret}
    count = make_tree(tmp_path / "src", 1500, 20_000, big=2)
    out = tmp_path / "out"
    ledger = out / "copy" / "APP-FAULT.sqlite"
    args = [
        "migrate",
        "copy",
        "APP-FAULT",
        "--source",
        str(tmp_path / "src"),
        "--site",
        "cikarang",
        "--endpoint",
        own_minio.url,
        "-o",
        str(out),
        "--workers",
        "4",
    ]
    # 1. SIGKILL the copy process mid-way
    process = subprocess.Popen(
        [sys.executable, "-c", RUNNER, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 180
    while copied(ledger) < 100 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.poll() is None, "copy ended before the kill"
    process.send_signal(signal.SIGKILL)
    process.wait()
    after_kill = copied(ledger)
    assert 0 < after_kill < count
    # 2. kill MinIO while a second copy runs: the copy fails cleanly (one line, no traceback)
    second = subprocess.Popen(
        [sys.executable, "-c", RUNNER, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    while copied(ledger) < after_kill + 100 and second.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    own_minio.kill()
    _, stderr = second.communicate(timeout=300)
    assert second.returncode != 0
    assert "Traceback" not in stderr and "error" in stderr
    after_outage = copied(ledger)
    assert after_kill < after_outage < count
    # 3. MinIO back (same data dir); the re-run finishes and verify proves every object
    own_minio.start()
    finish = pdn(*args, env=env)
    assert finish.returncode == 0, finish.stderr
    assert f"{after_outage} already done" in finish.stdout or "already done" in finish.stdout
    verify = pdn(
        "migrate",
        "verify",
        "APP-FAULT",
        "--source",
        str(tmp_path / "src"),
        "--site",
        "cikarang",
        "--endpoint",
        own_minio.url,
        "-o",
        str(out),
        env=env,
    )
    assert verify.returncode == 0, verify.stderr
    assert f"all {count} objects match" in verify.stdout
