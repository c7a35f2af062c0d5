"""Whole pipeline validate -> assess -> dedup -> consolidate -> plan (+ chart) on 24,400 apps.

Usage: .venv/bin/python bench/migrate/pipeline.py [--apps N] [--keep DIR]
Generates the inventory (seed 42, not timed), then times `pdn migrate run` in a child process
and reports its wall time and peak RSS (goal: <= 30 s, <= 1 GiB).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pdn.migrate.generate import generate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--apps", type=int, default=24_400)
    parser.add_argument("--datacenters", type=int, default=2_700)
    parser.add_argument("--keep", type=Path, default=None, help="Keep inventory and outputs here.")
    args = parser.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="pdn-bench-"))
    generate(base / "inventory", apps=args.apps, datacenters=args.datacenters, seed=42)
    command = [
        sys.executable,
        "-c",
        "from pdn.cli import main; main()",
        "migrate",
        "run",
        "-i",
        str(base / "inventory"),
        "-o",
        str(base / "out"),
        "--as-of",
        "2026-11-01",
    ]
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    rss_mib = usage.ru_maxrss / 1024
    cpu = usage.ru_utime + usage.ru_stime  # CPU seconds: less sensitive than wall time to a busy machine
    if result.returncode != 0:
        sys.exit(result.stderr)
    steps = [line for line in result.stdout.splitlines() if line.startswith("✓")]
    print("\n".join(steps))
    print(
        f"apps={args.apps} wall={seconds:.1f}s cpu={cpu:.1f}s load={os.getloadavg()[0]:.1f} peak_rss={rss_mib:.0f}MiB "
        f"goal={'met' if seconds <= 30 and rss_mib <= 1024 else 'MISSED'} (<=30 s, <=1024 MiB)"
    )


if __name__ == "__main__":
    main()
