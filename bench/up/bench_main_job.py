"""Wall time of the main job (``pdn up``), step by step, first run and converging re-run.

Runs ``pdn up`` with the given arguments in its own lab directory, port range, node namespace and
output folder (never touches a lab you have running), then runs it again on the same state:

    .venv/bin/python bench/up/bench_main_job.py                       # the README's main job
    .venv/bin/python bench/up/bench_main_job.py -- --site ikn --nodes 1 --apps 100
    .venv/bin/python bench/up/bench_main_job.py --keep                # leave the lab running

"first" starts from an empty lab with the toolchain already built (its build time is measured by
bench/lab/bench_lab.py and the build's own table); "re-run" is the converging second run.
Add the toolchain build time to "first" for a cold machine. Prints a Markdown table for
docs/benchmarks.md and writes bench/up/results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PDN = [sys.executable, "-c", "from pdn.cli import main; main()"]


def run_up(args: list[str], env: dict[str, str], out: Path) -> tuple[float, dict[str, float], dict[str, str]]:
    began = time.monotonic()
    done = subprocess.run([*PDN, "up", *args], env=env, check=False)
    seconds = time.monotonic() - began
    if done.returncode != 0:
        raise SystemExit(f"pdn up failed (exit {done.returncode}) after {seconds:.0f} s; see its output above")
    summary = json.loads((out / "up" / "summary.json").read_text(encoding="utf-8"))
    steps = summary["steps"]
    return seconds, {step["step"]: step["seconds"] for step in steps}, {step["step"]: step["result"] for step in steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", action="store_true", help="Leave the benchmark's lab and nodes running.")
    parser.add_argument(
        "--port-base", default="30100", help="Lab port base (default 30100; keep it below the ephemeral range, 32768+)."
    )
    parser.add_argument("up_args", nargs="*", help="Arguments for `pdn up` (after --).")
    options = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="pdn-bench-up-"))
    env = {
        **os.environ,
        "PDN_LAB_DIR": str(work / "lab"),
        "PDN_OUT": str(work / "out"),
        "PDN_LAB_PORT_BASE": options.port_base,
        "PDN_NODES_NAMESPACE": "pdnbench",
        "PDN_NODES_PORT_BASE": "25600",
    }
    results: dict[str, object] = {"args": options.up_args}
    try:
        first, first_steps, _ = run_up(options.up_args, env, work / "out")
        again, again_steps, again_results = run_up(options.up_args, env, work / "out")
        results.update(
            first=first, rerun=again, first_steps=first_steps, rerun_steps=again_steps, rerun_results=again_results
        )
    finally:
        if not options.keep:
            subprocess.run([*PDN, "down", "--purge"], env=env, check=False)  # processes, node containers, state
    (Path(__file__).parent / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print("| step | first run (s) | re-run (s) | re-run result |\n| --- | ---: | ---: | --- |")
    for step in first_steps:
        print(f"| {step} | {first_steps[step]:.0f} | {again_steps.get(step, 0):.0f} | {again_results.get(step, '-')} |")
    print(f"| **whole job** | **{first:.0f}** | **{again:.0f}** | |")


if __name__ == "__main__":
    main()
