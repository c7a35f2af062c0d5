"""Fixtures of the vm tier: one Debian 12 VM under qemu, hardened for real over SSH.

The session boots the cached VM image on throwaway overlays (name ``pdntest-vm``, SSH on
127.0.0.1:24990), probes the fresh kernel, hardens it once with the same playbook as the node
containers, reboots it so that everything persistent must load from disk, evaluates the ANSSI
BP-028 intermediary profile with OpenSCAP once, and powers it off. Emulation is slow, so the
tier does each of these once; idempotence is proven in the nodes tier, Lynis and the "before"
OpenSCAP count are in bench/harden.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

NAME = "pdntest-vm"
PORT = "24990"
#: Read on the fresh VM before hardening: proves the hardening changed the live kernel.
SYSCTL = "/usr/sbin/sysctl -n net.ipv4.ip_forward kernel.kptr_restrict"
PROBE = f"{SYSCTL}; grep -c -E '^(overlay|br_netfilter) ' /proc/modules || true"


@dataclass
class VmRun:
    vm: Any
    inventory: Path
    harden: Any
    scan: Any
    before: list[str]
    reboot_seconds: float
    tmp: Path


def _need(tool: str, package: str) -> None:
    if shutil.which(tool) is None and shutil.which(tool, path="/usr/sbin") is None:
        pytest.skip(f"{tool} is not installed (apt-get install {package})")


@pytest.fixture(scope="session")
def vm_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VmRun]:
    _need("qemu-system-x86_64", "qemu-system-x86")
    _need("qemu-img", "qemu-utils")
    _need("debootstrap", "debootstrap")
    with pytest.MonkeyPatch.context() as env:  # the tier's own names and ports, restored afterwards
        env.setenv("PDN_VM_NAME", NAME)
        env.setenv("PDN_VM_PORT", PORT)
        from pdn.harden.runner import run_playbook
        from pdn.vm.inventory import write_inventory
        from pdn.vm.machine import ssh, start_vm, stop_vm, wait_for_ssh
        from pdn.vm.oscap import evaluate

        tmp = tmp_path_factory.mktemp("vm")
        stop_vm()
        try:
            vm = start_vm()
            before = ssh(vm, PROBE).stdout.split()
            inventory = write_inventory(vm, tmp / "inventory.yml")
            harden = run_playbook(inventory, label="vm-harden", quiet=True, engine="mitogen")
            assert harden.ok, f"hardening the VM failed, see {harden.log}"
            # Everything persistent (sysctl.d, modules-load.d, modprobe.d, fstab, audit rules, nftables)
            # must come back from disk after a reboot.
            # AIDE's baseline (hashing the whole file system) cannot finish under emulation in this time;
            # stop it so that shutdown does not wait 90 s for it (the next run starts it again).
            ssh(vm, "sudo pkill -x aide; sudo systemctl reboot", check=False, timeout=60)
            started = time.monotonic()
            time.sleep(5)
            wait_for_ssh(vm, timeout=600)
            reboot_seconds = time.monotonic() - started
            scan = evaluate(vm, tmp, label="after")
            yield VmRun(vm, inventory, harden, scan, before, reboot_seconds, tmp)
        finally:
            if not os.environ.get("PDN_KEEP_VM"):
                stop_vm()


@pytest.fixture(scope="session")
def host(vm_run: VmRun) -> Any:
    """testinfra host of the VM, through the same key and pinned host key, with sudo."""
    import testinfra

    vm = vm_run.vm
    ssh_config = vm_run.tmp / "ssh_config"
    ssh_config.write_text(
        f"Host {vm.name}\n  HostName {vm.host}\n  Port {vm.port}\n  User {vm.user}\n  IdentityFile {vm.key_path}\n"
        f"  IdentitiesOnly yes\n  UserKnownHostsFile {vm.known_hosts}\n  StrictHostKeyChecking yes\n"
        f"  BatchMode yes\n  ControlMaster auto\n  ControlPath /tmp/pdntest-vm-%C\n  ControlPersist 120\n"
    )
    return testinfra.get_host(f"ssh://{vm.name}", ssh_config=str(ssh_config), sudo=True)
