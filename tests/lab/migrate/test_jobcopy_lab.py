"""copy as a Job, without nodes: the shard workers run as local processes against real MinIO.

Each worker is what a pod of the Indexed Job runs (``python -m pdn.migrate.jobcopy worker`` with
the Job's environment and its own ``JOB_COMPLETION_INDEX``). One is killed with SIGKILL mid-copy
and started again with an empty state folder, as a new pod would be. The target bucket is
versioned, so every PUT that the store completed leaves a version: one version per key proves
that nothing was uploaded twice, and verify proves that nothing is missing or different.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from pdn.migrate import jobenv, jobrun, jobspec
from pdn.migrate.s3 import Endpoint, client, ensure_bucket
from pdn.migrate.sources import BucketSource
from pdn.migrate.target import TargetStore

RUNNER = "from pdn.cli import main; main()"
SHARDS, PER_SHARD, SIZE = 3, 400, 48 * 1024
KILLED = 1


def worker(env: dict[str, str], index: int, state: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pdn.migrate.jobcopy", "worker"],
        env={**env, jobenv.ENV_INDEX: str(index), jobenv.ENV_STATE_DIR: str(state)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_kill_one_worker_then_rerun_it_copies_nothing_twice(own_minio: Any, tmp_path: Path) -> None:
    endpoint = Endpoint(own_minio.url, own_minio.access, own_minio.secret, own_minio.region)
    s3 = client(endpoint)
    source_bucket, bucket = "legacy-jobcopy", "mig-app-jobcopy"
    ensure_bucket(s3, source_bucket)
    ensure_bucket(s3, bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    digests: dict[str, str] = {}
    for index in range(SHARDS * PER_SHARD):
        body = os.urandom(SIZE)
        key = f"obj-{index:05d}"
        s3.put_object(Bucket=source_bucket, Key=f"app/{key}", Body=body)
        digests[key] = hashlib.sha256(body).hexdigest()
    url = f"s3://{source_bucket}/app/"
    root = jobrun.ledger_root(bucket, "")
    with TargetStore(endpoint) as store:
        plan = jobrun.make_plan(
            BucketSource(s3, url), url, bucket, "", PER_SHARD, 10**12, store.has_objects(bucket, "")
        )
        assert len(plan.shards) == SHARDS and not plan.probe
        jobrun.publish(store, "pdn-copy-ledger", root, plan)
    settings = jobspec.JobSettings(
        app_id="APP-JOBCOPY", site="cikarang", namespace="pdn-migrate", image=jobspec.DEFAULT_IMAGE,
        plan_id=plan.plan_id, root=root, ledger_bucket="pdn-copy-ledger", bucket=bucket, prefix="", source=url,
        source_endpoint=own_minio.url, target_endpoint=own_minio.url, target_region=own_minio.region,
        shards=SHARDS, parallelism=SHARDS, workers=2, largest_object=SIZE,
    )  # fmt: skip
    keys = {
        "PDN_S3_ACCESS_KEY": own_minio.access,
        "PDN_S3_SECRET_KEY": own_minio.secret,
        "PDN_SOURCE_S3_ACCESS_KEY": own_minio.access,
        "PDN_SOURCE_S3_SECRET_KEY": own_minio.secret,
    }
    env = {**os.environ, **jobspec.worker_env(settings), **keys}
    processes = {index: worker(env, index, tmp_path / f"pod-{index}") for index in range(SHARDS)}
    killed_range = f"obj-{KILLED * PER_SHARD // 100:03d}"  # the killed shard's first hundred keys
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and processes[KILLED].poll() is None:
        listed = s3.list_objects_v2(Bucket=bucket, Prefix=killed_range).get("KeyCount", 0)
        if listed >= 40:
            break
        time.sleep(0.05)
    assert processes[KILLED].poll() is None, "the shard finished before it could be killed"
    processes[KILLED].send_signal(signal.SIGKILL)
    processes[KILLED].communicate()
    before = {v["Key"]: v["VersionId"] for v in s3.list_object_versions(Bucket=bucket).get("Versions", [])}
    killed_keys = {item.key for item in plan.shards[KILLED]}
    done_before = killed_keys & set(before)
    assert 40 <= len(done_before) < PER_SHARD
    for index, process in processes.items():
        if index != KILLED:
            out, err = process.communicate(timeout=300)
            assert process.returncode == 0, err
            assert f"shard {index}: {PER_SHARD} objects" in out and f"{PER_SHARD} copied" in out
    # the new "pod" for the killed index: empty emptyDir, the store's snapshot only
    rerun = worker(env, KILLED, tmp_path / "pod-again")
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    print(out)
    numbers = out.split(";")[1]  # " N already done, M recovered from the store, K copied (...)"
    already, recovered = int(numbers.split()[0]), int(numbers.split(",")[1].split()[0])
    copied = int(numbers.split(",")[2].split()[0])
    assert already + recovered + copied == PER_SHARD
    assert already + recovered >= len(done_before)  # every object the store holds is known again, none re-sent
    # nothing uploaded twice: one version per key, and the versions written before the kill are kept
    versions: dict[str, list[str]] = {}
    paginator = s3.get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=bucket):
        for version in page.get("Versions", []):
            versions.setdefault(version["Key"], []).append(version["VersionId"])
    assert set(versions) == set(digests)
    assert [key for key, ids in versions.items() if len(ids) != 1] == []
    assert all(versions[key] == [before[key]] for key in done_before)
    for key in list(digests)[:: SHARDS * PER_SHARD // 60]:  # a sample read back here; verify reads all
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert hashlib.sha256(body).hexdigest() == digests[key]
    verify = subprocess.run(
        [sys.executable, "-c", RUNNER, "migrate", "verify", "APP-JOBCOPY", "--on-cluster", "--site", "cikarang",
         "--endpoint", own_minio.url, "--bucket", bucket, "-o", str(tmp_path / "out"), "--source", url,
         "--source-endpoint", own_minio.url],
        env={**os.environ, **keys}, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert f"all {SHARDS * PER_SHARD} objects match" in verify.stdout
    assert f"{SHARDS * PER_SHARD}/{SHARDS * PER_SHARD} objects copied" in verify.stdout
