"""The Debian 12 VM image: debootstrap with a kernel, one ext4 disk per filesystem, cached.

The image is keyed by a hash of its recipe (the node image's packages plus a kernel, udev and
OpenSCAP, the setup script and the disk layout). A build leaves, under
``cache_dir()/vm/debian12-vm-<hash>/``: one qcow2 disk per filesystem, the kernel and initrd
taken out of the image (qemu boots them directly, no boot loader), an SSH key pair for the
``ansible`` user and the VM's host key. The key material never leaves this machine's cache
(mode 0700/0600); every boot runs on copy-on-write overlays, so the cached disks stay pristine.

Each filesystem a CIS/ANSSI benchmark wants apart (/var, /var/log, /var/log/audit, /home) gets
its own virtio disk, filled with ``mkfs.ext4 -d``: the layout a provisioned node would have,
without needing a partitioning tool on the host.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pdn.errors import PdnError
from pdn.nodes.image import BASE_PACKAGES, HARDENING_PACKAGES, MIRROR, SUITE, recipe_digest
from pdn.nodes.image import recipe as node_recipe
from pdn.nodes.podman import require
from pdn.paths import cache_dir
from pdn.progress import StepProgress

USER = "ansible"

#: What a VM needs on top of the node container's packages: a kernel and initramfs, udev, the
#: log rotation a real node has, and the OpenSCAP scanner with the Debian SCAP content.
VM_PACKAGES = (
    "linux-image-amd64",
    "initramfs-tools",
    "udev",
    "e2fsprogs",
    "logrotate",
    "openscap-scanner",
    "ssg-debian",
)


@dataclass(frozen=True)
class Filesystem:
    """One filesystem of the VM, on its own virtio disk (``vda`` is the root)."""

    mountpoint: str
    label: str
    size: str
    options: str = "defaults"

    @property
    def disk_name(self) -> str:
        return f"{self.label}.qcow2"


#: Innermost mount points last, so that they are split off their parents first.
FILESYSTEMS = (
    Filesystem("/", "pdn-root", "4G", "defaults,errors=remount-ro"),
    Filesystem("/home", "pdn-home", "256M", "defaults,nodev,nosuid"),
    Filesystem("/var", "pdn-var", "2G", "defaults,nodev"),
    Filesystem("/var/log", "pdn-varlog", "768M", "defaults,nodev,nosuid,noexec"),
    Filesystem("/var/log/audit", "pdn-audit", "256M", "defaults,nodev,nosuid,noexec"),
)

#: Runs inside the fresh rootfs (chroot). ``PDN_VM_PUBKEY`` holds the ansible user's public key.
SETUP_SCRIPT = r"""
set -eu
echo 'pdn-vm' > /etc/hostname
printf '127.0.0.1 localhost\n127.0.1.1 pdn-vm\n::1 localhost ip6-localhost ip6-loopback\n' > /etc/hosts
: > /etc/machine-id
# qemu user networking: the guest is 10.0.2.15, the host side 10.0.2.2 (restrict=on: no way out).
mkdir -p /etc/systemd/network
cat > /etc/systemd/network/10-pdn.network <<'NET'
[Match]
Name=en* eth*
[Network]
Address=10.0.2.15/24
Gateway=10.0.2.2
LinkLocalAddressing=no
IPv6AcceptRA=no
NET
systemctl enable systemd-networkd.service ssh.service >/dev/null 2>&1
# Nothing waits for a network that is static anyway.
systemctl mask systemd-networkd-wait-online.service >/dev/null 2>&1
useradd --create-home --shell /bin/bash --comment 'Ansible automation' ansible
printf 'ansible ALL=(ALL) NOPASSWD: ALL\n' > /etc/sudoers.d/90-ansible
chmod 0440 /etc/sudoers.d/90-ansible
install -d -m 0700 -o ansible -g ansible /home/ansible/.ssh
printf '%s\n' "$PDN_VM_PUBKEY" > /home/ansible/.ssh/authorized_keys
chown ansible:ansible /home/ansible/.ssh/authorized_keys
chmod 0600 /home/ansible/.ssh/authorized_keys
rm -f /etc/ssh/ssh_host_*
ssh-keygen -q -A
passwd -l root >/dev/null
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/*.log
"""


def recipe() -> dict[str, object]:
    """Everything that decides the image's content; its hash names the cache folder.

    The node image's recipe (suite, mirror, recipe version) with the VM's packages, setup script
    and disk layout instead of the container's.
    """
    return {
        **node_recipe(),
        "packages": sorted(BASE_PACKAGES + HARDENING_PACKAGES + VM_PACKAGES),
        "setup": SETUP_SCRIPT,
        "filesystems": [fs.__dict__ for fs in FILESYSTEMS],
    }


def recipe_hash() -> str:
    return recipe_digest(recipe())


@dataclass(frozen=True)
class VmImage:
    """A built VM image in the cache."""

    path: Path

    @property
    def kernel(self) -> Path:
        return self.path / "vmlinuz"

    @property
    def initrd(self) -> Path:
        return self.path / "initrd.img"

    @property
    def key(self) -> Path:
        """Private key of the ``ansible`` user (0600)."""
        return self.path / "id_ed25519"

    @property
    def host_key(self) -> str:
        """The VM's ed25519 host key (``ssh-ed25519 AAAA...``), pinned in known_hosts."""
        return " ".join((self.path / "ssh_host_ed25519_key.pub").read_text().split()[:2])

    def disk(self, fs: Filesystem) -> Path:
        return self.path / fs.disk_name

    @property
    def kernel_cmdline(self) -> str:
        return "root=LABEL=pdn-root ro console=ttyS0 quiet audit=1 audit_backlog_limit=8192"


def image_dir() -> Path:
    return cache_dir() / "vm" / f"debian12-vm-{recipe_hash()}"


def cached_image() -> VmImage | None:
    """The image of the current recipe when it is complete in the cache."""
    path = image_dir()
    return VmImage(path) if (path / "recipe.json").exists() else None


def _run(args: list[str], what: str, *, env: dict[str, str] | None = None, log: Path | None = None) -> None:
    if log is not None:
        with log.open("a") as handle:
            proc = subprocess.run(args, stdout=handle, stderr=subprocess.STDOUT, env=env, check=False)
        if proc.returncode != 0:
            tail = log.read_text(errors="replace").strip().splitlines()[-3:]
            raise PdnError(f"{what} failed: {' | '.join(tail)}", hint=f"full log: {log}")
        return
    done = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise PdnError(f"{what} failed: {(done.stderr or done.stdout).strip()[-300:]}")


def _debootstrap(rootfs: Path, public_key: str, log: Path) -> None:
    debootstrap = require("debootstrap", "debootstrap")
    packages = ",".join(BASE_PACKAGES + HARDENING_PACKAGES + VM_PACKAGES)
    what = f"debootstrap {SUITE} with a kernel ({len(packages.split(','))} packages, several minutes)"
    with StepProgress(what, key="vm image debootstrap"):
        _run(
            [debootstrap, "--variant=minbase", f"--include={packages}", SUITE, str(rootfs), MIRROR],
            "debootstrap",
            log=log,
        )
    env = {**os.environ, "PDN_VM_PUBKEY": public_key}
    _run(["chroot", str(rootfs), "/bin/sh", "-c", SETUP_SCRIPT], "VM image setup", env=env, log=log)


def _fstab(rootfs: Path) -> None:
    lines = ["# Written by pdn.vm.image: one virtio disk per filesystem, found by label."]
    for number, fs in enumerate(FILESYSTEMS):
        lines.append(f"LABEL={fs.label} {fs.mountpoint} ext4 {fs.options} 0 {1 if number == 0 else 2}")
    (rootfs / "etc" / "fstab").write_text("\n".join(lines) + "\n")


def _boot_files(rootfs: Path, target: Path) -> None:
    """Copy the newest kernel and its initrd out of the image (qemu boots them with -kernel)."""
    kernels = sorted((rootfs / "boot").glob("vmlinuz-*"))
    if not kernels:
        raise PdnError("the VM image has no kernel in /boot (linux-image-amd64 did not install)")
    version = kernels[-1].name.removeprefix("vmlinuz-")
    initrd = rootfs / "boot" / f"initrd.img-{version}"
    if not initrd.exists():
        raise PdnError(f"the VM image has no initrd for kernel {version}")
    shutil.copyfile(kernels[-1], target / "vmlinuz")
    shutil.copyfile(initrd, target / "initrd.img")


def _make_disks(rootfs: Path, target: Path, log: Path) -> None:
    """Split the rootfs into one tree per filesystem (innermost first) and make one disk of each."""
    mkfs = require("mkfs.ext4", "e2fsprogs")
    qemu_img = require("qemu-img", "qemu-utils")
    trees: dict[str, Path] = {}
    for fs in reversed(FILESYSTEMS):
        if fs.mountpoint == "/":
            trees[fs.mountpoint] = rootfs
            continue
        source = rootfs / fs.mountpoint.lstrip("/")
        tree = target / "trees" / fs.label
        tree.parent.mkdir(parents=True, exist_ok=True)
        source.rename(tree)
        source.mkdir()
        shutil.copystat(tree, source)
        trees[fs.mountpoint] = tree
    with StepProgress(f"making {len(FILESYSTEMS)} ext4 disks", total=len(FILESYSTEMS), unit="disks") as step:
        for fs in FILESYSTEMS:
            step.update(doing=fs.label)
            raw = target / f"{fs.label}.raw"
            _run(
                [mkfs, "-q", "-F", "-L", fs.label, "-d", str(trees[fs.mountpoint]), str(raw), fs.size],
                "mkfs.ext4",
                log=log,
            )
            _run(
                [qemu_img, "convert", "-O", "qcow2", str(raw), str(target / fs.disk_name)], "qemu-img convert", log=log
            )
            raw.unlink()
            step.advance()


def build_image() -> VmImage:
    """Build the cached VM image if it is missing; return it."""
    found = cached_image()
    if found is not None:
        return found
    final = image_dir()
    final.parent.mkdir(parents=True, exist_ok=True)
    keygen = require("ssh-keygen", "openssh-client")
    with tempfile.TemporaryDirectory(prefix="pdn-vm-build-", dir=final.parent) as tmp:
        work = Path(tmp)
        out = work / "image"
        out.mkdir(mode=0o700)
        log = work / "build.log"
        key = out / "id_ed25519"
        _run([keygen, "-q", "-t", "ed25519", "-N", "", "-C", "pdn-vm-ansible", "-f", str(key)], "ssh-keygen")
        key.chmod(0o600)
        rootfs = work / "rootfs"
        try:
            _debootstrap(rootfs, (out / "id_ed25519.pub").read_text().strip(), log)
            _fstab(rootfs)
            _boot_files(rootfs, out)
            shutil.copyfile(rootfs / "etc/ssh/ssh_host_ed25519_key.pub", out / "ssh_host_ed25519_key.pub")
            _make_disks(rootfs, work, log)
        except PdnError:
            kept = final.parent / "last-build.log"
            shutil.copyfile(log, kept)
            raise
        for fs in FILESYSTEMS:
            (work / fs.disk_name).rename(out / fs.disk_name)
        (out / "recipe.json").write_text(json.dumps(recipe(), indent=2, sort_keys=True) + "\n")
        shutil.rmtree(rootfs, ignore_errors=True)
        out.rename(final)
    for old in final.parent.glob("debian12-vm-*"):
        if old != final:
            shutil.rmtree(old, ignore_errors=True)
    return VmImage(final)


def ensure_image() -> VmImage:
    """The VM image of the current recipe, built once (several minutes) and then reused."""
    return build_image()
