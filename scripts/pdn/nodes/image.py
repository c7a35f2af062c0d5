"""The Debian 12 node image: built once with debootstrap, cached, imported into podman.

The image is keyed by a hash of its recipe (suite, mirror, package list, setup script), so
it is rebuilt only when the recipe changes. The rootfs tarball lives under
``cache_dir()/nodes`` and is shared by every clone and by CI; the podman image is re-imported
from it when podman lost it (for example on a fresh CI machine with a warm cache).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
from pathlib import Path

from pdn.errors import PdnError
from pdn.nodes.podman import podman, require
from pdn.paths import cache_dir
from pdn.progress import StepProgress

SUITE = "bookworm"
MIRROR = os.environ.get("PDN_DEBIAN_MIRROR", "http://deb.debian.org/debian")
IMAGE_REPO = "localhost/pdn-debian12-node"

#: What every node needs to boot and be managed (systemd, sshd, sudo, python3 for Ansible)
#: plus what the hardening roles install, so that lab nodes never need the network.
BASE_PACKAGES = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "openssh-server",
    "openssh-client",
    "sudo",
    "python3",
    "python3-apt",
    "iproute2",
    "iputils-ping",
    "procps",
    "kmod",
    "less",
    "ca-certificates",
)
#: What a real Kubernetes node needs from Debian (the kubelet, containerd and CNI binaries come from
#: the pinned toolchain, pdn.nodes.kubenode): runc for containerd, nft/iptables-nft/ipset for
#: kube-proxy and kube-router (their images copy them from here), conntrack for kubeadm's preflight,
#: a static busybox for the small workload image, and haproxy for the load balancer image of Cluster
#: API's Docker provider (pdn.capi.images; masked in the nodes themselves).
KUBERNETES_PACKAGES = (
    "runc",
    "iptables",
    "ipset",
    "conntrack",
    "busybox-static",
    "haproxy",
)
HARDENING_PACKAGES = (
    "nftables",
    "auditd",
    "audispd-plugins",
    "aide",
    "aide-common",
    "libpam-pwquality",
    "libpam-tmpdir",
    "chrony",
    "rsyslog",
    "unattended-upgrades",
    "apt-listchanges",
    "apt-show-versions",
    "debsums",
    "acct",
    "sysstat",
    "fail2ban",
    "python3-systemd",
    "chkrootkit",
    "cron",
    "needrestart",
    "lynis",
)

#: Runs inside the fresh rootfs (chroot) before it is packed.
SETUP_SCRIPT = r"""
set -eu
echo 'pdn-node' > /etc/hostname
: > /etc/machine-id
# Host keys are generated per container at first boot, never baked into the image.
rm -f /etc/ssh/ssh_host_*
mkdir -p /etc/systemd/system/ssh.service.d
cat > /etc/systemd/system/ssh.service.d/pdn-hostkeys.conf <<'UNIT'
[Service]
ExecStartPre=
ExecStartPre=/bin/sh -c 'test -f /etc/ssh/ssh_host_ed25519_key || /usr/bin/ssh-keygen -A'
ExecStartPre=/usr/sbin/sshd -t
UNIT
# Units that cannot work in a container and only slow the boot down.
for unit in systemd-udevd.service systemd-udevd-control.socket systemd-udevd-kernel.socket \
            getty@tty1.service console-getty.service systemd-logind.service; do
  ln -sf /dev/null "/etc/systemd/system/$unit"
done
systemctl enable ssh.service >/dev/null 2>&1 || true
useradd --create-home --shell /bin/bash --comment 'Ansible automation' ansible
printf 'ansible ALL=(ALL) NOPASSWD: ALL\n' > /etc/sudoers.d/90-ansible
chmod 0440 /etc/sudoers.d/90-ansible
install -d -m 0700 -o ansible -g ansible /home/ansible/.ssh
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/*.log
"""


def recipe() -> dict[str, object]:
    """Everything that decides the image's content; its hash is the image tag."""
    return {
        "suite": SUITE,
        "mirror": MIRROR,
        "packages": sorted(BASE_PACKAGES + KUBERNETES_PACKAGES + HARDENING_PACKAGES),
        "setup": SETUP_SCRIPT,
        "version": 1,
    }


def recipe_digest(content: dict[str, object]) -> str:
    """Short, stable digest of an image recipe (the node image's tag, the VM image's cache folder)."""
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:12]


def recipe_hash() -> str:
    return recipe_digest(recipe())


def image_tag() -> str:
    return f"{IMAGE_REPO}:{recipe_hash()}"


def tarball_path() -> Path:
    return cache_dir() / "nodes" / f"debian12-node-{recipe_hash()}.tar.gz"


def _image_present(tag: str) -> bool:
    return podman(["image", "exists", tag], check=False).returncode == 0


def _build_rootfs(target: Path) -> None:
    """debootstrap a minimal bookworm with our packages into ``target`` and run the setup script."""
    debootstrap = require("debootstrap", "debootstrap")
    packages = ",".join(BASE_PACKAGES + KUBERNETES_PACKAGES + HARDENING_PACKAGES)
    log = target.parent / "debootstrap.log"
    with StepProgress(
        f"debootstrap {SUITE} ({len(packages.split(','))} packages, a few minutes)", key="node image debootstrap"
    ):
        with log.open("w") as handle:
            proc = subprocess.run(
                [debootstrap, "--variant=minbase", f"--include={packages}", SUITE, str(target), MIRROR],
                stdout=handle,
                stderr=subprocess.STDOUT,
                check=False,
            )
        if proc.returncode != 0:
            tail = log.read_text(errors="replace").strip().splitlines()[-3:]
            raise PdnError(f"debootstrap failed: {' | '.join(tail)}", hint=f"full log: {log}")
        setup = subprocess.run(
            ["chroot", str(target), "/bin/sh", "-c", SETUP_SCRIPT],
            capture_output=True,
            text=True,
            check=False,
        )
        if setup.returncode != 0:
            raise PdnError(f"node image setup failed: {setup.stderr.strip()[-300:]}")


def build_tarball() -> Path:
    """Build the cached rootfs tarball if it is missing; return its path."""
    tarball = tarball_path()
    if tarball.exists():
        return tarball
    tarball.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="pdn-rootfs-", dir=tarball.parent) as tmp:
        rootfs = Path(tmp) / "rootfs"
        _build_rootfs(rootfs)
        partial = tarball.with_suffix(".partial")
        with StepProgress("packing the node rootfs", key="node image pack"):
            subprocess.run(
                ["tar", "--numeric-owner", "--xattrs", "-C", str(rootfs), "-czf", str(partial), "."],
                check=True,
            )
        partial.rename(tarball)
    # Older recipes are never used again.
    for old in tarball.parent.glob("debian12-node-*.tar.gz"):
        if old != tarball:
            old.unlink()
    return tarball


def ensure_image() -> str:
    """The podman image tag of the Debian 12 node image, building and importing it if needed."""
    tag = image_tag()
    if _image_present(tag):
        return tag
    tarball = build_tarball()
    with StepProgress(f"importing {tarball.name} into podman", key="node image import"):
        podman(
            ["import", "--change", "CMD=/sbin/init", "--change", "STOPSIGNAL=SIGRTMIN+3", str(tarball), tag],
            timeout=900,
        )
    return tag


def remove_stale_images() -> list[str]:
    """Remove node images of older recipes; return their tags."""
    proc = podman(["images", "--format", "{{.Repository}}:{{.Tag}}", IMAGE_REPO], check=False)
    stale = [line for line in proc.stdout.split() if line and line != image_tag()]
    for tag in stale:
        podman(["rmi", tag], check=False)
    return stale


__all__ = ["ensure_image", "image_tag", "recipe_hash"]
