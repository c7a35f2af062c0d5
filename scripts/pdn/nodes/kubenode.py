"""The real-node image: the Debian 12 node image plus the pinned Kubernetes node runtime.

``pdn.nodes.image`` builds the Debian rootfs (debootstrap, cached by recipe); this module layers
on it, with ``podman build`` and no network, what makes the container a Kubernetes node: containerd
and its runc shim, the CNI plugins, kubelet, kubeadm and crictl from the toolchain, their systemd units and
configuration (``files/``), and ``pdn-node-init``, which shields the host's kernel settings before
systemd starts. The tag is the Kubernetes release and a digest of the base tag, the staged files
and the Containerfile, so a rebuilt binary or an edited unit gives a new image and an unchanged
recipe is reused at once. The site model's release is the default; Cluster API's upgrade in the lab
also needs the image of the release it upgrades from (docs/capi.md "Upgrading").
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path

from pdn.nodes.image import ensure_image
from pdn.nodes.podman import podman
from pdn.paths import cache_dir
from pdn.progress import StepProgress
from pdn.toolchain import resolve
from pdn.toolchain.lock import load_lock

FILES = Path(__file__).with_name("files")
CONTAINERFILE = Path(__file__).with_name("images") / "node" / "Containerfile"
IMAGE_REPO = "localhost/pdn-debian12-k8s-node"

#: The tools that are built per Kubernetes release (the rest are the same in every node image).
RELEASE_TOOLS = ("kubelet", "kubeadm")
#: tool -> where it goes in the node.
BINARIES = {
    "kubelet": "usr/local/bin/kubelet",
    "kubeadm": "usr/local/bin/kubeadm",
    "containerd": "usr/local/bin/containerd",
    "containerd-shim-runc-v2": "usr/local/bin/containerd-shim-runc-v2",
    "ctr": "usr/local/bin/ctr",
    "crictl": "usr/local/bin/crictl",
    "bridge": "opt/cni/bin/bridge",
    "host-local": "opt/cni/bin/host-local",
    "loopback": "opt/cni/bin/loopback",
}
#: file under files/ -> where it goes in the node, and its mode.
CONFIG_FILES = {
    "pdn-node-init": ("usr/local/sbin/pdn-node-init", 0o755),
    "pdn-import-images": ("usr/local/sbin/pdn-import-images", 0o755),
    "containerd-config.toml": ("etc/containerd/config.toml", 0o600),
    "certs.d/_default/hosts.toml": ("etc/containerd/certs.d/_default/hosts.toml", 0o644),
    "containerd.service": ("etc/systemd/system/containerd.service", 0o644),
    "kubelet.service": ("etc/systemd/system/kubelet.service", 0o644),
    "pdn-images.service": ("etc/systemd/system/pdn-images.service", 0o644),
    "pdn-node-network": ("usr/local/sbin/pdn-node-network", 0o755),
    "pdn-node-network.service": ("etc/systemd/system/pdn-node-network.service", 0o644),
    "10-kuberouter.conflist": ("etc/cni/net.d/10-kuberouter.conflist", 0o644),
    "crictl.yaml": ("etc/crictl.yaml", 0o644),
}
ENABLED_UNITS = ("containerd.service", "pdn-images.service", "pdn-node-network.service", "kubelet.service")
#: Units masked in a node. Each systemd path unit holds an inotify instance, and inotify instances
#: are counted per user across the whole host (``fs.inotify.max_user_instances``, 128 here): every
#: node's root is the host's root. A node has no console to ask passwords on.
#: haproxy is in the Debian image for the Cluster API load balancer image only.
MASKED_UNITS = ("systemd-ask-password-console.path", "systemd-ask-password-wall.path", "haproxy.service")


def release() -> str:
    """The Kubernetes release the node image is built at by default (the site model's)."""
    return load_lock().units["kubernetes-node"].version


def _stage(rootfs: Path, version: str) -> None:
    lock = load_lock()
    for tool, target in BINARIES.items():
        path = rootfs / target
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(resolve(lock.tool_at(tool, version) if tool in RELEASE_TOOLS else tool), path)
        path.chmod(0o755)
    for source, (target, mode) in CONFIG_FILES.items():
        path = rootfs / target
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(FILES / source, path)
        path.chmod(mode)
    wants = rootfs / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    for unit in ENABLED_UNITS:
        (wants / unit).symlink_to(f"/etc/systemd/system/{unit}")
    for unit in MASKED_UNITS:
        (rootfs / "etc/systemd/system" / unit).symlink_to("/dev/null")


def _digest(base: str, context: Path) -> str:
    digest = hashlib.sha256(base.encode())
    digest.update(CONTAINERFILE.read_bytes())
    for path in sorted(context.rglob("*")):
        digest.update(str(path.relative_to(context)).encode())
        if path.is_symlink():
            digest.update(str(path.readlink()).encode())
        elif path.is_file():
            digest.update(oct(path.stat().st_mode & 0o777).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def ensure_kube_image(version: str | None = None) -> str:
    """The podman tag of the real-node image at Kubernetes ``version`` (default :func:`release`),
    building it (and the Debian base) when needed; older builds of the same release are removed."""
    version = version or release()
    base = ensure_image()
    with tempfile.TemporaryDirectory(prefix="pdn-k8s-node-", dir=cache_dir()) as tmp:
        context = Path(tmp)
        _stage(context / "rootfs", version)
        tag = f"{IMAGE_REPO}:{version}-{_digest(base, context)}"
        if podman(["image", "exists", tag], check=False).returncode == 0:
            return tag
        with StepProgress(f"building the real-node image {tag}", key="real-node image build"):
            podman(
                ["build", "--runtime", "runc", "--pull=never", "--network", "none", "-q",
                 "--build-arg", f"BASE={base}", "-f", str(CONTAINERFILE), "-t", tag, str(context)],
                timeout=900,
            )  # fmt: skip
    stale = podman(["images", "--format", "{{.Repository}}:{{.Tag}}", IMAGE_REPO], check=False).stdout.split()
    for old in stale:
        if old != tag and not _other_release(old, version):
            podman(["rmi", old], check=False)
    return tag


def _other_release(tag: str, version: str) -> bool:
    """``tag`` is a node image of another Kubernetes release (kept: a cluster may still run it)."""
    name = tag.rsplit(":", 1)[-1]
    return name.startswith("v") and not name.startswith(f"{version}-")
