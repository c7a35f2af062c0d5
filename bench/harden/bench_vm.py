"""Benchmark of the hardening playbook on one Debian 12 VM (qemu, software emulation).

Measures what the vm test tier leaves out because emulation is slow: OpenSCAP's ANSSI BP-028
intermediary profile (ssg-debian 0.1.65, see pdn.vm.oscap) before and after hardening, and, with
--lynis, the Lynis hardening index before and after (about ten minutes per scan under emulation).
Also: boot to SSH, wall time of the hardening run, reboot to SSH. Writes out/bench/harden-vm.json.

    .venv/bin/python bench/harden/bench_vm.py [--lynis] [--keep] [--engine mitogen|ansible]

Runs its own VM (pdnbench-vm, SSH on 127.0.0.1:25990) and powers it off at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("PDN_VM_NAME", "pdnbench-vm")
os.environ.setdefault("PDN_VM_PORT", "25990")

from pdn.harden.engine import ENGINES, Engine
from pdn.harden.report import LynisResult, parse_lynis_report
from pdn.harden.runner import run_playbook
from pdn.paths import out_dir
from pdn.vm.inventory import write_inventory
from pdn.vm.machine import Vm, ssh, start_vm, stop_vm, wait_for_ssh
from pdn.vm.oscap import evaluate

LYNIS = (
    "sudo lynis audit system --quick --no-colors --report-file /var/tmp/lynis-report.dat >/dev/null 2>&1; "
    "sudo cat /var/tmp/lynis-report.dat"
)


def lynis(vm: Vm) -> tuple[LynisResult, float]:
    started = time.monotonic()
    result = parse_lynis_report(ssh(vm, LYNIS, timeout=3600).stdout)
    return result, round(time.monotonic() - started, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--lynis", action="store_true", help="also run Lynis before and after (slow)")
    parser.add_argument("--keep", action="store_true", help="leave the VM running")
    parser.add_argument("--engine", default="mitogen", choices=ENGINES, help="see pdn.harden.engine")
    args = parser.parse_args()

    folder = out_dir() / "bench" / "vm"
    stop_vm()
    vm = start_vm()
    result: dict[str, object] = {"cpus": os.cpu_count(), "boot_seconds": vm.boot_seconds}
    before = evaluate(vm, folder, label="before")
    result |= {
        "oscap_before": before.counts,
        "oscap_before_seconds": before.seconds,
        "oscap_before_failed": before.failed,
    }
    if args.lynis:
        fresh, seconds = lynis(vm)
        result |= {"lynis_fresh": fresh.hardening_index, "lynis_seconds": seconds}
    inventory = write_inventory(vm, folder / "inventory.yml")
    engine: Engine = next(name for name in ENGINES if name == args.engine)  # argparse checked it
    harden = run_playbook(inventory, label="bench-vm", engine=engine)
    result |= {
        "engine": args.engine,
        "harden_ok": harden.ok,
        "harden_seconds": round(harden.seconds, 1),
        "harden_changed": harden.changed,
    }
    # AIDE's baseline cannot finish under emulation in this time; stop it so that shutdown
    # does not wait 90 s for it (the next run starts it again).
    ssh(vm, "sudo pkill -x aide; sudo systemctl reboot", check=False, timeout=60)
    started = time.monotonic()
    time.sleep(5)
    wait_for_ssh(vm, timeout=900)
    result["reboot_seconds"] = round(time.monotonic() - started, 1)
    after = evaluate(vm, folder, label="after")
    result |= {"oscap_after": after.counts, "oscap_after_seconds": after.seconds, "oscap_after_failed": after.failed}
    if args.lynis:
        hardened, seconds = lynis(vm)
        result |= {"lynis_hardened": hardened.hardening_index, "lynis_hardened_warnings": hardened.warnings,
                   "lynis_hardened_suggestions": hardened.suggestions}  # fmt: skip
    result["load_average_1m_at_end"] = os.getloadavg()[0]
    target = out_dir() / "bench" / "harden-vm.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    if not args.keep:
        stop_vm()


if __name__ == "__main__":
    main()
