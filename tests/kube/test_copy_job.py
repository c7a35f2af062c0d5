"""copy as an Indexed Job on the real nodes: one pod killed mid-copy, the Job completes, verify passes.

``pdn migrate copy --on-cluster`` plans the shards and creates the Job; its pods (image
``localhost/pdn/migrate:lab``) reach the site's MinIO through the site network's gateway bridge.
One running pod's worker process is killed with SIGKILL inside its node container while it
copies; the pod fails and the Job controller replaces it
(``backoffLimitPerIndex``), the new pod starts from its shard's ledger snapshot in the store, and
the Job completes. The target bucket is versioned: one version per key proves that no object was
uploaded twice. ``verify --on-cluster`` re-reads everything from here, ``--as-job`` once more as a
verify Job on the nodes; a re-run of the copy has nothing to do.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from pdn.migrate.s3 import Endpoint, client, ensure_bucket

RUNNER = "from pdn.cli import main; main()"
IMAGE = "localhost/pdn/migrate:lab"
APP = "APP-KUBECOPY"
JOB = "copy-app-kubecopy"
SHARDS, PER_SHARD, SIZE = 4, 150, 64 * 1024


def pdn(*args: str, env: dict[str, str], timeout: int = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", RUNNER, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def job_pods(site: Any) -> list[dict[str, Any]]:
    listing = site.kubectl("get", "pods", "-n", "pdn-migrate", "-l", f"job-name={JOB}", "-o", "json").stdout
    return list(json.loads(listing)["items"])


FIND_WORKER = """
for p in /proc/[0-9]*; do
  tr '\\0' ' ' < $p/cmdline 2>/dev/null | grep -q 'pdn.migrate.jobcopy worker' || continue
  tr '\\0' '\\n' < $p/environ 2>/dev/null | grep -qx "JOB_COMPLETION_INDEX=$1" || continue
  tr '\\0' '\\n' < $p/environ 2>/dev/null | grep -qx "PDN_COPY_PLAN=$2" && echo ${p#/proc/}
done
"""


def kill_worker(pod: dict[str, Any]) -> str:
    """SIGKILL the worker process of ``pod`` inside its node container (by its process id); its pid."""
    node = pod["spec"]["nodeName"]
    index = pod["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"]
    plan = pod["metadata"]["annotations"]["pdn.go.id/copy-plan"]
    found = subprocess.run(
        ["podman", "exec", node, "sh", "-c", FIND_WORKER, "find", index, plan],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    pids = found.stdout.split()
    if len(pids) != 1:
        return ""  # not started yet, or already done
    done = subprocess.run(["podman", "exec", node, "kill", "-9", pids[0]], capture_output=True, check=False)
    return pids[0] if done.returncode == 0 else ""


def test_copy_job_survives_a_killed_pod(real_site: Any, tmp_path: Path) -> None:
    from pdn.lab import endpoints

    site = real_site.site
    for node in real_site.nodes:  # the image must be on the nodes: no registry is reachable
        images = subprocess.run(
            ["podman", "exec", node, "ctr", "-n", "k8s.io", "images", "ls", "-q"],
            capture_output=True, text=True, check=False, timeout=60,
        )  # fmt: skip
        assert IMAGE in images.stdout, f"{node} has no {IMAGE}: {images.stderr.strip()}"
    url = endpoints.s3_endpoint(site)
    access, secret = endpoints.s3_credentials(site)
    s3 = client(Endpoint(url, access, secret, endpoints.s3_region(site)))
    ensure_bucket(s3, "legacy-kubecopy")
    ensure_bucket(s3, "mig-app-kubecopy")
    s3.put_bucket_versioning(Bucket="mig-app-kubecopy", VersioningConfiguration={"Status": "Enabled"})
    digests: dict[str, str] = {}
    for index in range(SHARDS * PER_SHARD):
        body = os.urandom(SIZE)
        s3.put_object(Bucket="legacy-kubecopy", Key=f"app/obj-{index:05d}", Body=body)
        digests[f"obj-{index:05d}"] = hashlib.sha256(body).hexdigest()
    env = {
        **os.environ,
        "PDN_S3_ACCESS_KEY": access,
        "PDN_S3_SECRET_KEY": secret,
        "PDN_SOURCE_S3_ACCESS_KEY": access,
        "PDN_SOURCE_S3_SECRET_KEY": secret,
    }
    common = ["--site", site, "--endpoint", url, "-o", str(tmp_path / "out")]
    copy = ["migrate", "copy", APP, "--on-cluster", "--source", "s3://legacy-kubecopy/app/", "--source-endpoint", url,
            "--parallelism", "2", "--shard-size", str(PER_SHARD), "--workers", "2", *common]  # fmt: skip
    started = pdn(*copy, env=env)
    assert started.returncode == 0, started.stdout + started.stderr
    assert f"{SHARDS} shards" in started.stdout and f"Job pdn-migrate/{JOB} created" in started.stdout
    # kill -9 the worker of a pod while it copies: once some objects are there and a pod runs
    deadline = time.monotonic() + 300
    killed = ""
    while time.monotonic() < deadline and not killed:
        running = [p for p in job_pods(real_site) if p["status"].get("phase") == "Running"]
        copied = s3.list_objects_v2(Bucket="mig-app-kubecopy").get("KeyCount", 0)
        if running and 30 <= copied < SHARDS * PER_SHARD - PER_SHARD:
            killed = kill_worker(running[0])
        time.sleep(0.2)
    assert killed, f"no worker killed: {real_site.kubectl('get', 'pods', '-n', 'pdn-migrate', check=False).stdout}"
    watched = pdn(*copy, "--watch", "--watch-timeout", "600", env=env)
    assert watched.returncode == 0, watched.stdout + watched.stderr
    assert f"Job pdn-migrate/{JOB} complete" in watched.stdout
    assert f"{SHARDS * PER_SHARD}/{SHARDS * PER_SHARD} objects" in watched.stdout
    status = json.loads(real_site.kubectl("get", "job", "-n", "pdn-migrate", JOB, "-o", "json").stdout)["status"]
    assert status["succeeded"] == SHARDS and status.get("failed", 0) >= 1, status  # the killed pod failed
    versions: dict[str, int] = {}
    for page in s3.get_paginator("list_object_versions").paginate(Bucket="mig-app-kubecopy"):
        for version in page.get("Versions", []):
            versions[version["Key"]] = versions.get(version["Key"], 0) + 1
    assert set(versions) == set(digests)
    assert [key for key, count in versions.items() if count != 1] == []  # nothing uploaded twice
    verify = pdn("migrate", "verify", APP, "--on-cluster", "--source", "s3://legacy-kubecopy/app/",
                 "--source-endpoint", url, *common, env=env)  # fmt: skip
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert f"all {SHARDS * PER_SHARD} objects match" in verify.stdout
    as_job = pdn("migrate", "verify", APP, "--on-cluster", "--as-job", "--parallelism", "2", *common, env=env)
    assert as_job.returncode == 0, as_job.stdout + as_job.stderr
    assert "Job pdn-migrate/verify-app-kubecopy complete" in as_job.stdout
    assert f"all {SHARDS * PER_SHARD} objects match (re-read by the Job's pods" in as_job.stdout
    again = pdn(*copy, env=env)
    assert again.returncode == 0 and "nothing to do" in again.stdout, again.stdout + again.stderr
