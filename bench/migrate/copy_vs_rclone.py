"""copy throughput: `pdn migrate copy` vs `rclone copy --checksum`, same data, same MinIO, per S3 wire.

Usage: .venv/bin/python bench/migrate/copy_vs_rclone.py [--small N] [--small-kib K] [--big N] [--workers W]
           [--wires pdn,botocore,crt] [--rotate K]
Starts a private MinIO (toolchain binary) on 127.0.0.1, writes the data set once, then copies it
with rclone (Debian package) and with `pdn migrate copy` once per wire, each into its own bucket,
and runs `pdn migrate verify` (re-reads every object, SHA-256) after the first pdn copy. Wires:
``pdn`` is the default (pdn.migrate.wire: botocore's signer, urllib3's pool); ``botocore``
(its signer and ``URLLib3Session``) and ``crt`` (the AWS CRT S3 client) are the maintained
alternatives of ``s3_wires.py``, put in place of ``pdn.migrate.wire.default_wire`` in the
child process. pdn runs as the real CLI (start-up included). ratio = rclone time / pdn time.
MinIO is warmed up with 300 small PUTs before the first timed step (its first burst after start
is slower, which would count against whichever tool runs first), dirty pages are flushed (sync)
before each timed step so that one tool's write-back does not land in another's time, and
MinIO's own CPU and the load average are reported per step. --rotate K starts the order K steps
later (run K = 0, 1, 3, 4 to let each tool go first once).
"""

from __future__ import annotations

import argparse
import os
import resource
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pdn.migrate.s3 import Endpoint, client, ensure_bucket
from pdn.toolchain import resolve


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _process_cpu(pid: int) -> float:
    """User + system CPU seconds of a running process (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _warm_up(s3: Any) -> None:
    ensure_bucket(s3, "warm-up")
    body = os.urandom(128 * 1024)
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda n: s3.put_object(Bucket="warm-up", Key=f"w{n}", Body=body), range(300)))


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--small", type=int, default=2000)
    parser.add_argument("--small-kib", type=int, default=128)
    parser.add_argument("--big", type=int, default=4, help="64 MiB objects (multipart)")
    parser.add_argument("--workers", type=int, default=8, help="pdn --workers")
    parser.add_argument("--rclone-transfers", type=int, default=None, help="rclone --transfers [default: --workers]")
    parser.add_argument("--wires", default="pdn,botocore,crt", help="wires of pdn copy to run, in this order")
    parser.add_argument("--rotate", type=int, default=0, help="start the order of steps this many steps later")
    args = parser.parse_args()
    wires = [name for name in args.wires.split(",") if name]
    unknown = sorted(set(wires) - set(WIRES))
    if unknown:
        sys.exit(f"unknown wire(s) {', '.join(unknown)}; choose from {', '.join(WIRES)}")
    if not shutil.which("rclone"):
        sys.exit("rclone is missing: apt-get install rclone")
    load_before = os.getloadavg()[0]
    base = Path(tempfile.mkdtemp(prefix="pdn-copy-bench-"))
    source = base / "src"
    source.mkdir()
    for index in range(args.small):
        folder = source / f"d{index % 20}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{index:06d}.bin").write_bytes(os.urandom(args.small_kib * 1024))
    for index in range(args.big):
        (source / f"big{index}.bin").write_bytes(os.urandom(64 * 1024 * 1024))
    total = sum(p.stat().st_size for p in source.rglob("*") if p.is_file())
    count = args.small + args.big
    port, access, secret = free_port(), "bench", secrets.token_hex(16)
    env = {
        **os.environ,
        "MINIO_ROOT_USER": access,
        "MINIO_ROOT_PASSWORD": secret,
        "MINIO_SITE_REGION": "id-cikarang-1",
        "MINIO_BROWSER": "off",
        "MINIO_UPDATE": "off",
        "MINIO_CI_CD": "1",
    }
    minio = subprocess.Popen(
        [
            str(resolve("minio")),
            "server",
            str(base / "minio"),
            f"--address=127.0.0.1:{port}",
            f"--console-address=127.0.0.1:{free_port()}",
            "--quiet",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{url}/minio/health/live", timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        s3 = client(Endpoint(url, access, secret, "id-cikarang-1"))
        ensure_bucket(s3, "rclone-bench")
        _warm_up(s3)
        # rclone 1.60 fails on AWS_CA_BUNDLE with a plain-http endpoint; it is irrelevant here
        rclone_env = {
            **{k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"},
            "RCLONE_CONFIG": "/dev/null",
            "RCLONE_CONFIG_BENCH_TYPE": "s3",
            "RCLONE_CONFIG_BENCH_PROVIDER": "Minio",
            "RCLONE_CONFIG_BENCH_ENDPOINT": url,
            "RCLONE_CONFIG_BENCH_ACCESS_KEY_ID": access,
            "RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY": secret,
            "RCLONE_CONFIG_BENCH_REGION": "id-cikarang-1",
            "RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE": "true",
        }
        pdn_env = {**os.environ, "PDN_S3_ACCESS_KEY": access, "PDN_S3_SECRET_KEY": secret}
        rclone_cmd = [
            "rclone",
            "copy",
            "--checksum",
            "--transfers",
            str(args.rclone_transfers or args.workers),
            str(source),
            "bench:rclone-bench",
        ]
        steps: list[tuple[str, list[str], dict[str, str]]] = [("rclone", rclone_cmd, rclone_env)]
        for wire in wires:
            out = ["-o", str(base / f"out-{wire}"), "--bucket", f"pdn-{wire}"]
            common = ["--site", "cikarang", "--endpoint", url, *out, "--workers", str(args.workers)]
            steps.append((wire, [*_runner(wire), "copy", "BENCH", "--source", str(source), *common], pdn_env))
            if wire == wires[0]:
                steps.append((f"verify-{wire}", [*_runner(wire), "verify", "BENCH", *common], pdn_env))
        shift = args.rotate % len(steps)
        steps = steps[shift:] + steps[:shift]
        if steps[0][0].startswith("verify-"):  # a verify needs its copy first
            steps = steps[1:] + steps[:1]
        seconds: dict[str, float] = {}
        cpu: dict[str, float] = {}
        store_cpu: dict[str, float] = {}
        loads: dict[str, tuple[float, float]] = {}
        for name, command, env_of in steps:
            os.sync()  # the previous step's dirty pages must not be written back during this one
            load0 = os.getloadavg()[0]
            store0, cpu0, start = _process_cpu(minio.pid), _child_cpu(), time.perf_counter()
            done = subprocess.run(command, env=env_of, capture_output=True, text=True, check=False)
            seconds[name], cpu[name] = time.perf_counter() - start, _child_cpu() - cpu0
            if done.returncode != 0:
                sys.exit(f"{name} failed (exit {done.returncode}):\n{done.stdout or ''}{done.stderr or ''}")
            expected = f"all {count} objects match" if name.startswith("verify") else f"copied {count} objects"
            if name != "rclone" and expected not in done.stdout:
                sys.exit(f"{name}: expected {expected!r}:\n{done.stdout}")
            store_cpu[name] = _process_cpu(minio.pid) - store0
            loads[name] = (load0, os.getloadavg()[0])
    finally:
        minio.kill()
        minio.wait()
        shutil.rmtree(base, ignore_errors=True)
    mib = total / 2**20
    print(
        f"data: {args.small} x {args.small_kib} KiB + {args.big} x 64 MiB = {mib:.0f} MiB, "
        f"pdn workers={args.workers}, rclone transfers={args.rclone_transfers or args.workers}, "
        f"load average {load_before:.1f} -> {os.getloadavg()[0]:.1f}"
    )
    print(f"order: {' -> '.join(seconds)}")
    rclone_s = seconds["rclone"]
    for name in seconds:
        label = {"rclone": "rclone copy --checksum"}.get(name, f"pdn {name.replace('-', ' ')}")
        ratio = "" if name == "rclone" or name.startswith("verify") else f"  ratio {rclone_s / seconds[name]:.2f}"
        print(
            f"{label:<24} {seconds[name]:6.1f} s  {mib / seconds[name]:6.1f} MiB/s  client CPU {cpu[name]:5.1f} s"
            f"  MinIO CPU {store_cpu[name]:5.1f} s  load {loads[name][0]:.1f}->{loads[name][1]:.1f}{ratio}"
        )


WIRES = {
    "pdn": "",  # the default wire: pdn.migrate.wire.PoolWire (botocore's signer, urllib3's pool)
    "botocore": "s3_wires:BotocoreWire",
    "crt": "s3_wires:CrtWire",
}


def _runner(wire: str) -> list[str]:
    """``pdn migrate`` in a child process whose target store sends through ``wire``."""
    if not WIRES[wire]:
        return [sys.executable, "-c", "from pdn.cli import main; main()", "migrate"]  # what `pdn` runs
    module, name = WIRES[wire].split(":")
    code = (
        f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
        "import importlib, pdn.migrate.wire as w; "
        f"w.default_wire = getattr(importlib.import_module({module!r}), {name!r}); "
        "from pdn.cli import main; main()"
    )
    return [sys.executable, "-c", code, "migrate"]


if __name__ == "__main__":
    main()
