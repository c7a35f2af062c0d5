"""Benchmark the lab: cold and warm start of the sites, memory per site, and toolchain build times.

Runs in its own lab directory and port range (never touches a lab you have running):

    .venv/bin/python bench/lab/bench_lab.py                 # all four sites, 3 warm starts
    .venv/bin/python bench/lab/bench_lab.py --runs 5 --site ikn
    .venv/bin/python bench/lab/bench_lab.py --toolchain     # + forced warm rebuild of every unit

cold = first start with no state (certificates, etcd and MinIO data are created);
warm = start again after ``down`` (state kept, binaries built): what a developer sees every day.
Prints a Markdown table to paste into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path


def _setup_env(lab_dir: str, port_base: str) -> None:
    os.environ["PDN_LAB_DIR"] = lab_dir
    os.environ["PDN_LAB_PORT_BASE"] = port_base


def bench_start(sites: list[str], runs: int) -> list[str]:
    from pdn.lab import runtime

    lines = []
    began = time.monotonic()
    runtime.up(sites)
    cold = time.monotonic() - began
    time.sleep(5)  # let the components settle before reading memory
    memory: dict[str, int] = {}
    for row in runtime.status(sites):
        memory[row.site] = memory.get(row.site, 0) + row.rss
    per_component: dict[str, list[int]] = {}
    for row in runtime.status(sites):
        per_component.setdefault(row.name, []).append(row.rss)
    warm: list[float] = []
    for _ in range(runs):
        runtime.down(sites)
        began = time.monotonic()
        runtime.up(sites)
        warm.append(time.monotonic() - began)
    noop_began = time.monotonic()
    runtime.up(sites)
    noop = time.monotonic() - noop_began
    runtime.down(sites, purge=True)
    lines.append(f"| sites started together | {len(sites)} ({', '.join(sites)}) |")
    lines.append(f"| cold start (no state) | {cold:.1f} s |")
    lines.append(
        f"| warm start, {runs} runs | median {statistics.median(warm):.1f} s "
        f"(min {min(warm):.1f}, max {max(warm):.1f}) |"
    )
    lines.append(f"| `up` when already up (no-op) | {noop:.2f} s |")
    for site, rss in memory.items():
        lines.append(f"| memory (RSS) {site} | {rss / 2**20:.0f} MiB |")
    for name, values in per_component.items():
        lines.append(f"| memory per {name} (mean over sites) | {statistics.mean(values) / 2**20:.0f} MiB |")
    return lines


def bench_toolchain() -> list[str]:
    """Recorded cold build seconds (from the build stamps) and a forced warm rebuild now."""
    from pdn.toolchain.build import build
    from pdn.toolchain.locate import read_stamp
    from pdn.toolchain.lock import load_lock

    lines = []
    lock = load_lock()
    for unit in lock.units.values():
        stamp = read_stamp(unit.tools[0], unit)
        if stamp is not None:
            lines.append(f"| last build of {unit.name} | {stamp.get('seconds')} s |")
    outcomes = build(jobs=1, force=True)
    for outcome in outcomes:
        lines.append(f"| warm rebuild (--force) of {outcome.unit} | {outcome.seconds:.0f} s ({outcome.status}) |")
    lines.append(f"| warm rebuild, all units, one at a time | {sum(o.seconds for o in outcomes):.0f} s |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", action="append", default=[], help="site id (repeatable; default all)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--port-base", default="29100")
    parser.add_argument("--toolchain", action="store_true", help="also time a forced warm rebuild")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pdn-bench-lab-") as lab_dir:
        _setup_env(lab_dir, args.port_base)
        from pdn.lab import layout

        sites = args.site or layout.site_ids()
        lines = ["| measure | value |", "| --- | --- |", *bench_start(sites, args.runs)]
    if args.toolchain:
        lines += bench_toolchain()
    print("\n".join(lines))
    out = Path(os.environ.get("PDN_BENCH_OUT", "out/bench-lab.json"))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"lines": lines, "cpus": os.cpu_count()}, indent=2))


if __name__ == "__main__":
    main()
