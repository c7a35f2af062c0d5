"""The images the lab's Cluster API needs, built here with no registry.

- ``localhost/pdn/capi-controllers:<digest>``: FROM scratch, the four managers built static from
  the pinned module (toolchain units ``capi-*`` and ``capd``); one container per manager.
- ``localhost/pdn/haproxy:<digest>``: the control-plane load balancer the Docker provider starts
  (DockerCluster ``spec.loadBalancer.imageRepository``/``imageTag`` name it), Debian's haproxy
  from the node image.
- The workload clusters' control-plane images (kube-apiserver, kube-controller-manager,
  kube-scheduler, etcd) as archives next to the real nodes' pod images
  (:func:`pdn.nodes.podimages.images_dir`), under the names kubeadm asks for, so that a machine
  that mounts that folder imports them at boot and kubeadm init pulls nothing.

Every tag and archive name carries a digest of its recipe, so an unchanged recipe is never rebuilt.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pdn.nodes.image import ensure_image
from pdn.nodes.podimages import PodImage, build_image, kube_proxy_image
from pdn.nodes.podman import podman
from pdn.paths import cache_dir
from pdn.progress import StepProgress
from pdn.toolchain import resolve
from pdn.toolchain.lock import load_lock

RECIPES = Path(__file__).with_name("images")
CONTROLLERS_REPO = "localhost/pdn/capi-controllers"
#: The Docker provider names its load balancer image ``<imageRepository>/haproxy:<imageTag>``.
LB_REPOSITORY = "localhost/pdn"
LB_IMAGE = "haproxy"
#: The etcd image tag kubeadm's ClusterConfiguration is given (``etcd.local.imageTag``).
ETCD_TAG_SUFFIX = "-0"


@dataclass(frozen=True)
class Manager:
    """One Cluster API manager: its toolchain tool and where it sits in the controllers image."""

    name: str
    tool: str

    @property
    def command(self) -> str:
        return f"/usr/local/bin/{self.tool}"


MANAGERS = (
    Manager("core", "capi-controller"),
    Manager("kubeadm-bootstrap", "capi-kubeadm-bootstrap-controller"),
    Manager("kubeadm-control-plane", "capi-kubeadm-control-plane-controller"),
    Manager("docker", "capd-controller"),
)


def _digest(context: Path, containerfile: Path, base: str = "") -> str:
    digest = hashlib.sha256(base.encode() + containerfile.read_bytes())
    for path in sorted(p for p in context.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(context)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _build(containerfile: Path, context: Path, tag: str, base: str | None = None) -> str:
    if podman(["image", "exists", tag], check=False).returncode == 0:
        return tag
    args = ["--build-arg", f"BASE={base}"] if base else []
    with StepProgress(f"building {tag}", key=f"image {tag.rsplit(':', 1)[0]}"):
        podman(
            ["build", "--runtime", "runc", "--pull=never", "--network", "none", "-q", *args,
             "-f", str(containerfile), "-t", tag, str(context)],
            timeout=900,
        )  # fmt: skip
    return tag


def ensure_controllers_image() -> str:
    """The managers' image tag, built when its binaries changed."""
    containerfile = RECIPES / "controllers" / "Containerfile"
    with tempfile.TemporaryDirectory(prefix="pdn-capi-controllers-", dir=cache_dir()) as tmp:
        context = Path(tmp)
        for manager in MANAGERS:
            target = context / "rootfs" / manager.command.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(resolve(manager.tool), target)
            target.chmod(0o755)
        return _build(containerfile, context, f"{CONTROLLERS_REPO}:{_digest(context, containerfile)}")


def _stage_lb(context: Path) -> Path:
    config = context / "rootfs" / "usr" / "local" / "etc" / "haproxy" / "haproxy.cfg"
    config.parent.mkdir(parents=True)
    shutil.copyfile(RECIPES / "haproxy" / "haproxy.cfg", config)
    return context


def ensure_lb_image() -> str:
    """The load balancer image, built on the Debian node image when its recipe changed."""
    base = ensure_image()
    containerfile = RECIPES / "haproxy" / "Containerfile"
    with tempfile.TemporaryDirectory(prefix="pdn-capi-haproxy-", dir=cache_dir()) as tmp:
        context = _stage_lb(Path(tmp))
        tag = f"{LB_REPOSITORY}/{LB_IMAGE}:{_digest(context, containerfile, base)}"
        return _build(containerfile, context, tag, base)


def etcd_image_tag() -> str:
    """``3.6.16-0`` for the pinned etcd v3.6.16 (kubeadm's own tags carry the ``-0`` too)."""
    return load_lock().units["etcd-static"].version.removeprefix("v") + ETCD_TAG_SUFFIX


def _stage_tool(tool: str, command: str) -> Callable[[Path, str], None]:
    def stage(context: Path, _base: str) -> None:
        target = context / "rootfs" / "usr" / "local" / "bin" / command
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(resolve(tool), target)
        target.chmod(0o755)

    return stage


def control_plane_images(version: str | None = None) -> list[PodImage]:
    """A workload cluster's control plane at Kubernetes ``version`` (default: the site model's
    release, unit ``kubernetes-control-plane``), under kubeadm's image names. Another release adds
    its kube-proxy, which kubeadm deploys at the cluster's version (the site model's release is
    among the real nodes' pod images already)."""
    lock = load_lock()
    default = lock.units["kubernetes-control-plane"].version
    version = version or default
    images = [
        PodImage(
            command,
            f"registry.k8s.io/{command}:{version}",
            _stage_tool(lock.tool_at(f"{command}-static", version), command),
            release=version,
        )
        for command in ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
    ]
    images.append(PodImage("etcd", f"registry.k8s.io/etcd:{etcd_image_tag()}", _stage_tool("etcd-static", "etcd")))
    if version != default:
        images.append(kube_proxy_image(version))
    return images


def ensure_control_plane_images(version: str | None = None) -> list[Path]:
    """Build (or reuse) the control-plane archives at ``version`` that machines import at boot."""
    base = ensure_image()
    images = control_plane_images(version)
    archives = []
    title = "control-plane images for Cluster API" + (f" at {version}" if version else "")
    with StepProgress(title, total=len(images), unit="images", key="control-plane images") as step:
        for image in images:
            step.update(description=f"image {image.name}", doing=image.name)
            archives.append(build_image(image, base))
            step.advance()
    return archives
