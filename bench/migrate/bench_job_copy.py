"""copy as a Job with 1, 2 and 4 pods vs the one-process copy vs `rclone copy --checksum`, one run.

Usage: nice -n 10 .venv/bin/python bench/migrate/bench_job_copy.py [--small N] [--small-kib K] [--big N]
           [--pods 1,2,4] [--workers W] [--cluster SITE]

The source is an ``s3://`` bucket (a Job reads only what pods can reach), written once; every tool
copies it into its own bucket on the same MinIO:

- ``rclone copy --checksum`` (Debian package), ``--transfers W``, bucket to bucket with
  ``--disable Copy`` (on one remote rclone would otherwise ask the store for a server-side copy,
  and no byte would pass through it);
- ``pdn migrate copy`` in one process (the real CLI, ``--workers W``);
- the copy Job with P pods, P = 1, 2, 4: the plan cut into P shards, one per pod, each pod
  ``--workers W``. Without ``--cluster`` the pods are local processes of the Job's worker
  (``python -m pdn.migrate.jobcopy worker`` with the Job's environment, started together), on a
  private MinIO; the time runs from planning to the last worker's exit. With ``--cluster SITE``
  it runs on the lab site's real nodes (``pdn lab up`` with real nodes first) and its MinIO, as
  ``pdn migrate copy --on-cluster --parallelism P --watch``, timed from the command's start to
  its end (pod start included); the Job's own start-to-completion time is printed too.

Each step flushes dirty pages first (sync) and MinIO is warmed up before the first one. Ratios
are rclone's time / the step's time (above 1: faster than rclone).
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pdn.migrate import jobenv, jobrun, jobspec
from pdn.migrate.s3 import Endpoint, client, ensure_bucket
from pdn.migrate.sources import BucketSource
from pdn.migrate.target import TargetStore
from pdn.toolchain import resolve

CLI = [sys.executable, "-c", "from pdn.cli import main; main()"]
REGION = "id-cikarang-1"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_minio(base: Path, access: str, secret: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "MINIO_ROOT_USER": access, "MINIO_ROOT_PASSWORD": secret, "MINIO_SITE_REGION": REGION,
           "MINIO_BROWSER": "off", "MINIO_UPDATE": "off", "MINIO_CI_CD": "1"}  # fmt: skip
    process = subprocess.Popen(
        [str(resolve("minio")), "server", str(base / "minio"), f"--address=127.0.0.1:{port}",
         f"--console-address=127.0.0.1:{free_port()}", "--quiet"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(f"{url}/minio/health/live", timeout=1).close()
            return process, url
        except OSError:
            time.sleep(0.2)
    process.kill()
    sys.exit("MinIO did not start")


def write_source(s3: Any, bucket: str, small: int, small_kib: int, big: int) -> int:
    ensure_bucket(s3, bucket)
    body = os.urandom(small_kib * 1024)

    def put(index: int) -> None:
        data = body[:-8] + index.to_bytes(8, "big")  # distinct objects, cheap to make
        s3.put_object(Bucket=bucket, Key=f"app/d{index % 20}/f{index:06d}.bin", Body=data)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, range(small)))
    for index in range(big):
        s3.put_object(Bucket=bucket, Key=f"app/big{index}.bin", Body=os.urandom(64 * 1024 * 1024))
    return small * small_kib * 1024 + big * 64 * 1024 * 1024


def local_job(url: str, access: str, secret: str, source: str, bucket: str, pods: int, workers: int, count: int,
              base: Path) -> str:  # fmt: skip
    """The Job's pods as local processes: plan, publish, one worker per shard, all at once."""
    endpoint = Endpoint(url, access, secret, REGION)
    s3 = client(endpoint)
    root = jobrun.ledger_root(bucket, "")
    with TargetStore(endpoint) as store:
        store.ensure_bucket(bucket)
        plan = jobrun.make_plan(BucketSource(s3, source), source, bucket, "", math.ceil(count / pods), 10**15, False)
        jobrun.publish(store, "pdn-copy-ledger", root, plan)
    settings = jobspec.JobSettings(
        app_id="BENCH", site="cikarang", namespace="pdn-migrate", image=jobspec.DEFAULT_IMAGE, plan_id=plan.plan_id,
        root=root, ledger_bucket="pdn-copy-ledger", bucket=bucket, prefix="", source=source, source_endpoint=url,
        target_endpoint=url, target_region=REGION, shards=len(plan.shards), parallelism=pods, workers=workers,
        largest_object=plan.largest,
    )  # fmt: skip
    keys = {"PDN_S3_ACCESS_KEY": access, "PDN_S3_SECRET_KEY": secret,
            "PDN_SOURCE_S3_ACCESS_KEY": access, "PDN_SOURCE_S3_SECRET_KEY": secret}  # fmt: skip
    env = {**os.environ, **jobspec.worker_env(settings), **keys}
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "pdn.migrate.jobcopy", "worker"],
            env={**env, jobenv.ENV_INDEX: str(index), jobenv.ENV_STATE_DIR: str(base / f"{bucket}-{index}")},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for index in range(len(plan.shards))
    ]
    for process in processes:
        out, err = process.communicate()
        if process.returncode != 0:
            sys.exit(f"worker failed: {err}")
        assert " copied " in out, out
    return ""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--small", type=int, default=1500)
    parser.add_argument("--small-kib", type=int, default=128)
    parser.add_argument("--big", type=int, default=2, help="64 MiB objects (multipart)")
    parser.add_argument("--pods", default="1,2,4")
    parser.add_argument("--workers", type=int, default=8, help="objects in flight per process / pod")
    parser.add_argument("--cluster", default=None, help="run the Jobs on this lab site's real nodes")
    args = parser.parse_args()
    pods = [int(n) for n in args.pods.split(",") if n]
    if not shutil.which("rclone"):
        sys.exit("rclone is missing: apt-get install rclone")
    base = Path(tempfile.mkdtemp(prefix="pdn-job-bench-"))
    minio = None
    if args.cluster:
        from pdn.lab import endpoints

        url = endpoints.s3_endpoint(args.cluster)
        access, secret = endpoints.s3_credentials(args.cluster)
    else:
        access, secret = "bench", secrets.token_hex(16)
        minio, url = start_minio(base, access, secret)
    run_id = secrets.token_hex(3)
    s3 = client(Endpoint(url, access, secret, REGION))
    legacy = f"legacy-{run_id}"
    try:
        total = write_source(s3, legacy, args.small, args.small_kib, args.big)
        count = args.small + args.big
        source = f"s3://{legacy}/app/"
        rclone_env = {
            **{k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"},
            "RCLONE_CONFIG": "/dev/null", "RCLONE_CONFIG_BENCH_TYPE": "s3", "RCLONE_CONFIG_BENCH_PROVIDER": "Minio",
            "RCLONE_CONFIG_BENCH_ENDPOINT": url, "RCLONE_CONFIG_BENCH_ACCESS_KEY_ID": access,
            "RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY": secret, "RCLONE_CONFIG_BENCH_REGION": REGION,
            "RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE": "true",
        }  # fmt: skip
        pdn_env = {**os.environ, "PDN_S3_ACCESS_KEY": access, "PDN_S3_SECRET_KEY": secret,
                   "PDN_SOURCE_S3_ACCESS_KEY": access, "PDN_SOURCE_S3_SECRET_KEY": secret}  # fmt: skip
        site = args.cluster or "cikarang"
        common = ["--site", site, "--endpoint", url, "--source", source, "--source-endpoint", url,
                  "--workers", str(args.workers)]  # fmt: skip
        ensure_bucket(s3, f"rclone-{run_id}")

        def run(command: list[str], env: dict[str, str]) -> str:
            done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                sys.exit(f"{command[:6]} failed:\n{done.stdout}{done.stderr}")
            took = re.search(r"complete in (\d+) s", done.stdout)
            return f" (Job {took.group(1)} s)" if took else ""

        steps: list[tuple[str, Callable[[], str]]] = [
            ("rclone copy --checksum", lambda: run(["rclone", "copy", "--checksum", "--disable", "Copy",
                                                    "--transfers", str(args.workers),
                                                    f"bench:{legacy}/app", f"bench:rclone-{run_id}"], rclone_env)),
            ("pdn copy, one process", lambda: run([*CLI, "migrate", "copy", "BENCH", *common, "--bucket",
                                                   f"one-{run_id}", "-o", str(base / "out-one")], pdn_env)),
        ]  # fmt: skip
        for n in pods:
            bucket = f"job{n}-{run_id}"
            if args.cluster:
                command = [*CLI, "migrate", "copy", f"BENCH-{run_id}-{n}", *common, "--bucket", bucket, "--on-cluster",
                           "--parallelism", str(n), "--shard-size", str(math.ceil(count / n)), "--watch",
                           "-o", str(base / f"out-{n}")]  # fmt: skip
                steps.append((f"pdn copy Job, {n} pod(s)", functools.partial(run, command, pdn_env)))
            else:
                job = functools.partial(local_job, url, access, secret, source, bucket, n, args.workers, count, base)
                steps.append((f"pdn copy Job, {n} pod(s)", job))
        seconds: dict[str, float] = {}
        for label, step in steps:
            os.sync()
            start = time.perf_counter()
            extra = step()
            seconds[label + extra] = time.perf_counter() - start
    finally:
        if minio is not None:
            minio.kill()
            minio.wait()
        shutil.rmtree(base, ignore_errors=True)
    mib = total / 2**20
    where = f"real nodes of {args.cluster}" if args.cluster else "local worker processes, private MinIO"
    print(f"data: {args.small} x {args.small_kib} KiB + {args.big} x 64 MiB = {mib:.0f} MiB, {count} objects; "
          f"workers per process {args.workers}; Jobs on {where}; {os.cpu_count()} CPUs")  # fmt: skip
    reference = next(iter(seconds.values()))
    for label, value in seconds.items():
        print(f"{label:<40} {value:6.1f} s  {mib / value:6.1f} MiB/s  ratio {reference / value:.2f}")


if __name__ == "__main__":
    main()
