"""Benchmark of the hardening playbooks on identical fresh Debian 12 node containers.

Measures: Lynis hardening index fresh vs hardened (same image, same node), ssh-audit failures and
warnings fresh vs hardened, wall time of the first run and of the idempotent re-run on N nodes at
once (default 4). Writes out/bench/harden.json and prints a Markdown table for docs/benchmarks.md.

    .venv/bin/python bench/harden/bench_harden.py [--nodes 4] [--site cikarang] [--keep]

Runs in its own node namespace (pdnbench, SSH ports 25xxx) and removes its nodes at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("PDN_NODES_NAMESPACE", "pdnbench")
os.environ.setdefault("PDN_NODES_PORT_BASE", "25000")

from pdn.harden.report import run_lynis, run_ssh_audit
from pdn.harden.runner import run_playbook
from pdn.nodes import start_nodes, stop_nodes, write_inventory
from pdn.paths import lab_dir, out_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=4)
    parser.add_argument("--site", default="cikarang")
    parser.add_argument("--keep", action="store_true", help="leave the nodes running")
    args = parser.parse_args()

    stop_nodes()
    started = time.monotonic()
    nodes = start_nodes(args.site, args.nodes)
    boot_s = time.monotonic() - started
    inventory = write_inventory(lab_dir() / "nodes" / "bench-inventory.yml", nodes)
    probe = nodes[0]
    fresh_lynis = run_lynis(probe)
    fresh_ssh = run_ssh_audit(probe.host, probe.port)

    first = run_playbook(inventory, label="bench-first")
    second = run_playbook(inventory, label="bench-second")
    check = run_playbook(inventory, check=True, label="bench-check")
    # Let the background AIDE baseline finish so that Lynis sees the final state.
    time.sleep(5)
    hard_lynis = run_lynis(probe)
    hard_ssh = run_ssh_audit(probe.host, probe.port)

    result = {
        "nodes": args.nodes,
        "site": args.site,
        "load_average_1m_at_end": os.getloadavg()[0],
        "cpus": os.cpu_count(),
        "boot_seconds": round(boot_s, 1),
        "lynis_fresh": fresh_lynis.hardening_index,
        "lynis_hardened": hard_lynis.hardening_index,
        "lynis_hardened_warnings": hard_lynis.warnings,
        "lynis_hardened_suggestions": hard_lynis.suggestions,
        "ssh_audit_fresh": {"fail": len(fresh_ssh.failures), "warn": len(fresh_ssh.warnings)},
        "ssh_audit_hardened": {"fail": len(hard_ssh.failures), "warn": len(hard_ssh.warnings)},
        "first_run_seconds": round(first.seconds, 1),
        "first_run_ok": first.ok,
        "first_run_changed": first.changed,
        "second_run_seconds": round(second.seconds, 1),
        "second_run_changed": second.changed,
        "check_run_seconds": round(check.seconds, 1),
        "check_run_changed": check.changed,
    }
    target = out_dir() / "bench" / "harden.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if not k.startswith("lynis_hardened_")}, indent=2))
    print(
        f"\n| measure | fresh | hardened |\n| --- | --- | --- |\n"
        f"| Lynis hardening index | {result['lynis_fresh']} | {result['lynis_hardened']} |\n"
        f"| ssh-audit fail / warn | {len(fresh_ssh.failures)} / {len(fresh_ssh.warnings)} | "
        f"{len(hard_ssh.failures)} / {len(hard_ssh.warnings)} |\n"
        f"| first run on {args.nodes} nodes | | {result['first_run_seconds']} s (changed {first.changed}) |\n"
        f"| idempotent re-run | | {result['second_run_seconds']} s (changed {second.changed}) |\n"
        f"| check-mode run | | {result['check_run_seconds']} s (changed {check.changed}) |"
    )
    if not args.keep:
        stop_nodes()


if __name__ == "__main__":
    main()
