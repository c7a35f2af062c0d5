"""Boot, reach and stop the Debian 12 VM (qemu, software emulation, SSH on 127.0.0.1 only).

A VM runs from copy-on-write overlays of the cached disks under ``lab_dir()/vm/<name>/``;
stopping it deletes them, so every boot starts from the pristine image. Its network is qemu
user networking with ``restrict=on``: the guest reaches nothing, and only the SSH port is
forwarded to 127.0.0.1. ``PDN_VM_NAME`` / ``PDN_VM_PORT`` keep tests and benchmarks apart from
the lab's VM (defaults follow the node namespace: ``pdn-vm`` on port base + 990, i.e. 22990).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from pdn.errors import PdnError
from pdn.nodes.podman import require
from pdn.nodes.runtime import namespace, port_base
from pdn.paths import lab_dir
from pdn.progress import StepProgress
from pdn.vm.image import FILESYSTEMS, USER, VmImage, ensure_image
from pdn.wait import WaitTimeout, wait_until


@dataclass(frozen=True)
class Vm:
    """A VM and how to reach it over SSH."""

    name: str
    port: int
    image: Path
    pid: int = 0
    boot_seconds: float = 0.0
    host: str = "127.0.0.1"
    user: str = USER

    @property
    def run_dir(self) -> Path:
        return run_dir(self.name)

    @property
    def key_path(self) -> Path:
        return VmImage(self.image).key

    @property
    def known_hosts(self) -> Path:
        return self.run_dir / "known_hosts"

    @property
    def console_log(self) -> Path:
        return self.run_dir / "console.log"


def vm_name() -> str:
    return os.environ.get("PDN_VM_NAME", f"{namespace()}-vm")


def vm_port() -> int:
    return int(os.environ.get("PDN_VM_PORT", str(port_base() + 990)))


def accelerator() -> str:
    """``tcg`` (software emulation, works everywhere) unless ``PDN_VM_ACCEL`` asks for ``kvm``."""
    return os.environ.get("PDN_VM_ACCEL", "tcg")


def run_dir(name: str) -> Path:
    return lab_dir() / "vm" / name


def _state_path(name: str) -> Path:
    return run_dir(name) / "state.json"


def _alive(pid: int, name: str) -> bool:
    """True when ``pid`` is our qemu for ``name`` (never signal a recycled pid)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return bool(cmdline) and b"qemu-system" in cmdline[0] and f"pdn-{name}".encode() in cmdline


def status(name: str | None = None) -> Vm | None:
    """The running VM called ``name`` (default :func:`vm_name`), or None."""
    name = name or vm_name()
    path = _state_path(name)
    if not path.exists():
        return None
    state = json.loads(path.read_text())
    vm = Vm(name=name, port=state["port"], image=Path(state["image"]), pid=state["pid"],
            boot_seconds=state.get("boot_seconds", 0.0))  # fmt: skip
    return vm if _alive(vm.pid, name) else None


def ssh_base_args(vm: Vm) -> list[str]:
    """``ssh`` arguments that reach ``vm`` with its key and pinned host key."""
    return [
        "ssh", "-i", str(vm.key_path), "-p", str(vm.port),
        "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=10",
        "-o", f"UserKnownHostsFile={vm.known_hosts}", "-o", "StrictHostKeyChecking=yes",
        "-o", "ServerAliveInterval=15",
        f"{vm.user}@{vm.host}",
    ]  # fmt: skip


def ssh(vm: Vm, command: str, *, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``command`` in the VM as the ansible user; raise :class:`PdnError` when it fails and ``check``."""
    proc = subprocess.run([*ssh_base_args(vm), command], capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise PdnError(f"{vm.name}: `{command[:60]}` failed ({proc.returncode}): {proc.stderr.strip()[-300:]}")
    return proc


def fetch(vm: Vm, remote: str, local: Path, *, timeout: float = 300) -> Path:
    """Copy a root-readable file out of the VM (through ``sudo cat``, no scp needed)."""
    local.parent.mkdir(parents=True, exist_ok=True)
    with local.open("wb") as handle:
        proc = subprocess.run([*ssh_base_args(vm), f"sudo cat {remote}"], stdout=handle,
                              stderr=subprocess.PIPE, timeout=timeout, check=False)  # fmt: skip
    if proc.returncode != 0:
        raise PdnError(f"{vm.name}: cannot read {remote}: {proc.stderr.decode(errors='replace').strip()[-200:]}")
    return local


def wait_for_ssh(vm: Vm, timeout: float = 600) -> None:
    def login() -> str | None:
        """None once a login works, else why it did not."""
        try:
            proc = ssh(vm, "true", timeout=30, check=False)
        except subprocess.TimeoutExpired:
            return "ssh timed out"
        return None if proc.returncode == 0 else proc.stderr.strip()[-200:] or f"ssh exit {proc.returncode}"

    wait_until(
        f"{vm.name}: SSH login on 127.0.0.1:{vm.port}", login, lambda reason: reason is None, timeout=timeout,
        interval=2, describe=str, hint=f"boot log: {vm.console_log}",
    )  # fmt: skip


def _qemu_command(name: str, image: VmImage, port: int, folder: Path, memory_mb: int, cpus: int) -> list[str]:
    qemu = require("qemu-system-x86_64", "qemu-system-x86")
    accel = accelerator()
    command = [
        qemu, "-name", f"pdn-{name}", "-machine", f"q35,accel={accel}", "-cpu", "max" if accel == "tcg" else "host",
        "-smp", str(cpus), "-m", str(memory_mb), "-nodefaults", "-no-user-config",
        "-display", "none", "-monitor", "none", "-serial", f"file:{folder / 'console.log'}",
        "-kernel", str(image.kernel), "-initrd", str(image.initrd), "-append", image.kernel_cmdline,
        "-device", "virtio-rng-pci",
        # restrict=on: the guest cannot reach the host or anything else; only the forward below exists.
        "-netdev", f"user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:{port}-:22",
        "-device", "virtio-net-pci,netdev=net0",
        "-daemonize", "-pidfile", str(folder / "qemu.pid"),
    ]  # fmt: skip
    for fs in FILESYSTEMS:
        # cache=unsafe: the overlay is thrown away anyway, and flushes are slow under emulation.
        command += ["-drive", f"file={folder / fs.disk_name},if=virtio,format=qcow2,cache=unsafe"]
    return command


def start_vm(name: str | None = None, port: int | None = None, *, memory_mb: int = 2048, cpus: int = 2,
             timeout: float = 600) -> Vm:  # fmt: skip
    """Boot the VM on fresh overlays and wait for SSH; a running VM is returned as it is."""
    name = name or vm_name()
    running = status(name)
    if running is not None:
        return running
    port = port or vm_port()
    image = ensure_image()
    qemu_img = require("qemu-img", "qemu-utils")
    folder = run_dir(name)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, mode=0o700)
    for fs in FILESYSTEMS:
        subprocess.run([qemu_img, "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(image.disk(fs)),
                        str(folder / fs.disk_name)], check=True, capture_output=True)  # fmt: skip
    (folder / "known_hosts").write_text(f"[127.0.0.1]:{port} {image.host_key}\n")
    started = time.monotonic()
    proc = subprocess.run(_qemu_command(name, image, port, folder, memory_mb, cpus), capture_output=True,
                          text=True, check=False)  # fmt: skip
    if proc.returncode != 0:
        raise PdnError(f"qemu did not start: {proc.stderr.strip()[-300:]}")
    pid = int((folder / "qemu.pid").read_text().strip())
    vm = Vm(name=name, port=port, image=image.path, pid=pid)
    _state_path(name).write_text(json.dumps({"port": port, "image": str(image.path), "pid": pid}))
    with StepProgress(f"booting {name} (software emulation, about a minute)", key="vm boot"):
        try:
            wait_for_ssh(vm, timeout)
        except PdnError:
            stop_vm(name, keep_logs=True)
            raise
    seconds = round(time.monotonic() - started, 1)
    _state_path(name).write_text(json.dumps({"port": port, "image": str(image.path), "pid": pid,
                                             "boot_seconds": seconds}))  # fmt: skip
    return Vm(name=name, port=port, image=image.path, pid=pid, boot_seconds=seconds)


def stop_vm(name: str | None = None, *, keep_logs: bool = False) -> bool:
    """Power the VM off and delete its overlays; return whether one was running."""
    name = name or vm_name()
    vm = status(name)
    if vm is not None:
        os.kill(vm.pid, signal.SIGTERM)
        try:
            wait_until(f"VM {name} (pid {vm.pid}) to power off", lambda: _alive(vm.pid, name),
                       lambda alive: not alive, timeout=20, describe=lambda _: "still running")  # fmt: skip
        except WaitTimeout:
            os.kill(vm.pid, signal.SIGKILL)
    folder = run_dir(name)
    if keep_logs:
        for fs in FILESYSTEMS:
            (folder / fs.disk_name).unlink(missing_ok=True)
        _state_path(name).unlink(missing_ok=True)
    else:
        shutil.rmtree(folder, ignore_errors=True)
    return vm is not None
