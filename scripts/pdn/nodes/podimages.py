"""The images real lab nodes run, built here from the toolchain and Debian packages only.

No registry is reachable, so every image a node runs is built locally: FROM scratch plus static
binaries from the pinned toolchain (and, where a tool execs ``nft``, that command with its shared
libraries taken from the node image itself). Each image is saved as a ``docker-archive`` (named by
its RepoTags, which ``ctr images import`` keeps) under ``cache_dir()/images``; node containers see
that folder read-only and import every archive into containerd at boot (``pdn-images.service``).
Images keep the names kubeadm and the manifests ask for (``registry.k8s.io/pause:3.10.1`` …), and
containerd resolves every registry to a closed loopback port, so nothing is ever pulled.

An archive's file name carries the digest of its recipe (the Containerfile, the staged files'
SHA-256), so a changed binary gives a new archive and nodes import it on their next boot.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pdn.errors import PdnError
from pdn.nodes.podman import podman, require
from pdn.nodes.runtime import KUBE_ULIMITS
from pdn.paths import cache_dir
from pdn.progress import StepProgress
from pdn.toolchain import resolve
from pdn.toolchain.build import go_env, module_dir_of
from pdn.toolchain.lock import load_lock

RECIPES = Path(__file__).with_name("images")

#: Commands copied with their shared libraries from the node image for images that exec them.
NFT_TOOLS = ("/usr/sbin/nft", "/usr/sbin/xtables-nft-multi", "/usr/sbin/ipset")
#: What those commands load or read at run time beyond their libraries: iptables' match and target
#: extensions (dlopen'd, so ldd does not list them) and the routing table names kube-router edits.
NFT_DATA = ("/usr/lib/x86_64-linux-gnu/xtables", "/etc/iproute2/rt_tables")


@dataclass(frozen=True)
class PodImage:
    """One image: its recipe folder, the name nodes know it by, and how its context is staged."""

    recipe: str
    name: str
    stage: Callable[[Path, str], None]

    @property
    def containerfile(self) -> Path:
        return RECIPES / self.recipe / "Containerfile"


def images_dir() -> Path:
    """Archives that node containers import (mounted read-only at ``/opt/pdn/images``)."""
    return cache_dir() / "images"


def _copy_tool(tool: str, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(resolve(tool), target)
    target.chmod(0o755)


def _stage_pause(context: Path, _base: str) -> None:
    """The pause binary from the pinned k8s.io/kubernetes source, compiled static with gcc."""
    unit = load_lock().units["kubernetes-node"]
    log = cache_dir() / "logs" / "image-pause.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    source = module_dir_of(unit.source, unit.module_dir, log) / "build" / "pause" / "linux" / "pause.c"
    gcc = require("gcc", "gcc")
    version = _version_of("registry.k8s.io/pause:3.10.1")
    done = subprocess.run(
        [gcc, "-Os", "-static", "-Wall", "-Werror", f"-DVERSION=v{version}", "-o", str(context / "pause"), str(source)],
        capture_output=True,
        text=True,
        check=False,
        env=go_env(),
    )
    if done.returncode != 0:
        raise PdnError(
            f"building the pause binary failed: {done.stderr.strip()[-300:]}", hint="apt-get install -y gcc libc6-dev"
        )


def _version_of(name: str) -> str:
    return name.rsplit(":", 1)[1]


#: The names iptables-nft answers to (Debian's alternatives, as links to the multi-call binary).
XTABLES_NAMES = ("iptables", "iptables-save", "iptables-restore", "ip6tables", "ip6tables-save", "ip6tables-restore")


def _stage_with_nft(tool: str, target: str) -> Callable[[Path, str], None]:
    def stage(context: Path, base: str) -> None:
        _copy_tool(tool, context / "rootfs" / target.lstrip("/"))
        _copy_closure(base, NFT_TOOLS, context / "rootfs", NFT_DATA)
        for name in XTABLES_NAMES:
            (context / "rootfs" / "usr" / "sbin" / name).symlink_to("xtables-nft-multi")

    return stage


def _stage_single(tool: str, target: str) -> Callable[[Path, str], None]:
    def stage(context: Path, _base: str) -> None:
        _copy_tool(tool, context / "rootfs" / target.lstrip("/"))

    return stage


def _stage_busybox(context: Path, base: str) -> None:
    _copy_closure(base, ("/bin/busybox",), context / "rootfs")


def _copy_closure(base_image: str, commands: tuple[str, ...], rootfs: Path, data: tuple[str, ...] = ()) -> None:
    """Copy ``commands``, the files and folders of ``data``, and every shared library any of them
    loads (the shared objects inside ``data`` too), from the node image into ``rootfs``."""
    rootfs.mkdir(parents=True, exist_ok=True)
    script = (
        "set -eu; for d in " + " ".join(data) + '; do cp -a --parents "$d" /out; done; '
        "for c in " + " ".join(commands) + " $(cd /out && find . -name '*.so' | sed 's|^\\.||'); do "
        'cp -L --parents "$c" /out; '
        'ldd "$c" 2>/dev/null | grep -o \'/[^ ]*\' | while read -r lib; do cp -L --parents "$lib" /out; done; '
        "done"
    )
    podman(
        ["run", "--rm", "--runtime", "runc", "--network", "none", "--user", "0", *KUBE_ULIMITS,
         "-v", f"{rootfs}:/out", "--entrypoint", "/bin/sh", base_image, "-c", script],
        timeout=120,
    )  # fmt: skip


def pod_images(kubernetes_version: str) -> list[PodImage]:
    """Every image a real node runs; names follow what kubeadm and upstream manifests use."""
    lock = load_lock()
    coredns = lock.units["coredns"].version
    router = lock.units["kube-router"].version
    return [
        PodImage("pause", "registry.k8s.io/pause:3.10.1", _stage_pause),
        PodImage("coredns", f"registry.k8s.io/coredns/coredns:{coredns}", _stage_single("coredns", "/coredns")),
        PodImage(
            "kube-proxy",
            f"registry.k8s.io/kube-proxy:{kubernetes_version}",
            _stage_with_nft("kube-proxy", "/usr/local/bin/kube-proxy"),
        ),
        PodImage(
            "kube-router",
            f"docker.io/cloudnativelabs/kube-router:{router}",
            _stage_with_nft("kube-router", "/usr/local/bin/kube-router"),
        ),
        PodImage("workload", "localhost/pdn/workload:busybox", _stage_busybox),
    ]


def _digest(folder: Path, containerfile: Path) -> str:
    digest = hashlib.sha256(containerfile.read_bytes())
    for path in sorted(p for p in folder.rglob("*") if p.is_file() or p.is_symlink()):
        digest.update(str(path.relative_to(folder)).encode())
        digest.update(path.read_bytes() if not path.is_symlink() else str(path.readlink()).encode())
    return digest.hexdigest()[:12]


def archive_name(image: PodImage, digest: str) -> str:
    return f"{image.recipe}-{digest}.tar"


def build_image(image: PodImage, base_image: str) -> Path:
    """Stage, build and save one image; reuse the archive when its recipe digest is unchanged."""
    folder = images_dir()
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"pdn-image-{image.recipe}-", dir=cache_dir()) as tmp:
        context = Path(tmp)
        (context / "rootfs").mkdir()
        image.stage(context, base_image)
        digest = _digest(context, image.containerfile)
        archive = folder / archive_name(image, digest)
        if archive.is_file():
            return archive
        tag = f"{image.name}"
        podman(
            ["build", "--runtime", "runc", "--pull=never", "--network", "none", "-q",
             "-f", str(image.containerfile), "-t", tag, str(context)],
            timeout=600,
        )  # fmt: skip
        partial = archive.with_suffix(".partial")
        podman(["save", "--format", "docker-archive", "-o", str(partial), tag], timeout=300)
        partial.rename(archive)
    for old in folder.glob(f"{image.recipe}-*.tar"):
        if old != archive:
            old.unlink()
    return archive


def ensure_pod_images(base_image: str, kubernetes_version: str) -> list[Path]:
    """Build (or reuse) every pod image; return the archives nodes import."""
    images = pod_images(kubernetes_version)
    archives = []
    with StepProgress("pod images for the real nodes", total=len(images), unit="images", key="pod images") as step:
        for image in images:
            step.update(description=f"pod image {image.name}", doing=image.name)
            archives.append(build_image(image, base_image))
            step.advance()
    index = {image.name: path.name for image, path in zip(images, archives, strict=True)}
    (images_dir() / "index.json").write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")
    return archives
