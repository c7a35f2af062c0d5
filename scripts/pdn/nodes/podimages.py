"""The images real lab nodes run, built here from the toolchain and Debian packages only.

No registry is reachable, so every image a node runs is built locally: FROM scratch plus static
binaries from the pinned toolchain (and, where a tool execs ``nft``, that command with its shared
libraries taken from the node image itself). The one image of pdn's own Python code
(``localhost/pdn/migrate:lab``: copy and verify as Jobs, the legacy-app stand-in) takes the node
image's python3.11 and standard library, and the distributions it needs from this environment.
Each image is saved as a ``docker-archive`` (named by its RepoTags, which ``ctr images import``
keeps) under ``cache_dir()/images``; node containers see that folder read-only and import every
archive into containerd at boot (``pdn-images.service``), and :func:`import_new_archives` has
running nodes import the archives built after they booted.
Images keep the names kubeadm and the manifests ask for (``registry.k8s.io/pause:3.10.1`` …), and
containerd resolves every registry to a closed loopback port, so nothing is ever pulled.

An archive's file name carries the digest of its recipe (the Containerfile, the staged files'
SHA-256), so a changed binary gives a new archive, and an unchanged recipe is never rebuilt.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from pdn.errors import PdnError
from pdn.migrate.pods import LAB_IMAGE
from pdn.nodes.podman import podman, require
from pdn.nodes.runtime import KUBE_ULIMITS
from pdn.paths import cache_dir
from pdn.progress import StepProgress
from pdn.toolchain import resolve
from pdn.toolchain.build import go_env, module_dir_of
from pdn.toolchain.lock import load_lock
from pdn.wait import wait_until

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
    #: The Kubernetes release of an image built per release (kube-proxy, the control plane): its
    #: archives of different releases live side by side (machines of both run during an upgrade).
    release: str = ""

    @property
    def slot(self) -> str:
        """The archive name before its digest: a newer build replaces the archive of its slot."""
        return f"{self.recipe}-{self.release}" if self.release else self.recipe

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


#: Velero's node agent, data-mover pods and restore helper (pdn.backup.nodeagent).
VELERO_IMAGE = "localhost/pdn/velero:lab"


def _stage_velero(context: Path, _base: str) -> None:
    for tool in ("velero", "velero-restore-helper"):
        _copy_tool(tool, context / "rootfs" / tool)
    for folder in ("tmp", "scratch"):  # mount points of the pods' emptyDirs
        (context / "rootfs" / folder).mkdir(mode=0o1777)


def _stage_busybox(context: Path, base: str) -> None:
    _copy_closure(base, ("/bin/busybox",), context / "rootfs")


def _copy_closure(base_image: str, commands: tuple[str, ...], rootfs: Path, data: tuple[str, ...] = ()) -> None:
    """Copy ``commands``, the files and folders of ``data``, and every shared library any of them
    loads (the shared objects inside ``data`` too, and those already staged in ``rootfs``), from
    the node image into ``rootfs``."""
    rootfs.mkdir(parents=True, exist_ok=True)
    script = (
        "set -eu; for d in " + " ".join(data) + '; do cp -a --parents "$d" /out; done; '
        "for c in " + " ".join(commands) + " $(cd /out && find . -name '*.so' | sed 's|^\\.||'); do "
        '[ -e "/out$c" ] || cp -L --parents "$c" /out; '
        'ldd "/out$c" 2>/dev/null | grep -o \'/[^ ]*\' | while read -r lib; do cp -L --parents "$lib" /out; done; '
        "done"
    )
    podman(
        ["run", "--rm", "--runtime", "runc", "--network", "none", "--user", "0", *KUBE_ULIMITS,
         "-v", f"{rootfs}:/out", "--entrypoint", "/bin/sh", base_image, "-c", script],
        timeout=120,
    )  # fmt: skip


#: The migrate image: the node image's Python with its standard library, the CA bundle, and
#: libgcc_s (glibc loads it when a thread exits through ``pthread_exit``, as Python's daemon
#: threads do at interpreter shutdown), plus pdn's own modules and the distributions they need.
PYTHON = "/usr/bin/python3.11"
PYTHON_DATA = ("/usr/lib/python3.11", "/etc/ssl/certs/ca-certificates.crt", "/usr/lib/x86_64-linux-gnu/libgcc_s.so.1")
#: Parts of the standard library no pod uses (and Debian's links to its own configuration).
STDLIB_DROPPED = ("test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3", "pydoc_data",
                  "sitecustomize.py", "EXTERNALLY-MANAGED")  # fmt: skip
#: Where pdn and its distributions go in the image (the Containerfile's ``PYTHONPATH``).
MIGRATE_SITE = "opt/pdn/python"
#: The pdn modules pods run from the migrate image (the copy Job's worker, the smoke check's probe,
#: the stand-in, copy and verify); what they import from pdn comes along.
MIGRATE_MODULES = (
    "pdn.migrate.copy",
    "pdn.migrate.sources",
    "pdn.migrate.target",
    "pdn.migrate.verify",
    "pdn.migrate.ledger",
    "pdn.migrate.jobcopy",
    "pdn.migrate.probe",
    "pdn.migrate.standin",
)
#: The installed distributions those modules import, closed under their requirements (both are
#: checked against the installed metadata at staging time: a new import fails the build, not a pod).
MIGRATE_DISTRIBUTIONS = (
    "boto3", "botocore", "s3transfer", "urllib3", "jmespath", "python-dateutil", "six",
    "PyYAML",  # pdn.safeload
)  # fmt: skip
#: botocore's service models kept: S3, and STS for web-identity / assume-role credentials.
BOTOCORE_SERVICES = ("s3", "sts")


def _module_file(root: Path, name: str) -> Path | None:
    base = root.parent.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at module level or inside functions."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_bytes(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)  # may be submodules
    return names


def pdn_closure(modules: tuple[str, ...] = MIGRATE_MODULES) -> tuple[dict[str, Path], set[str]]:
    """(pdn module name -> file) of ``modules``, their packages and every pdn module they import,
    transitively; and the top-level names of what they import from outside pdn and the stdlib."""
    root = Path(__file__).resolve().parents[1]  # scripts/pdn
    found: dict[str, Path] = {}
    outside: set[str] = set()
    todo = list(modules)
    while todo:
        name = todo.pop()
        if name in found:
            continue
        path = _module_file(root, name)
        if path is None:
            if name in modules:
                raise PdnError(f"the migrate image names {name}, which is not a module of {root}")
            continue  # ``from pdn.x import y`` where y is a name, not a module
        found[name] = path
        parts = name.split(".")
        todo += [".".join(parts[:n]) for n in range(1, len(parts))]
        for imported in _imports(path):
            top = imported.split(".")[0]
            if top == "pdn":
                todo.append(imported)
            elif top not in sys.stdlib_module_names and top != "__future__":
                outside.add(top)
    return found, outside


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def check_distributions(imported: set[str], names: tuple[str, ...] = MIGRATE_DISTRIBUTIONS) -> None:
    """Fail unless ``names`` provide every top-level module in ``imported`` and hold every
    requirement (no extras, markers evaluated) of each of them."""
    from packaging.requirements import Requirement

    wanted = {_canonical(name) for name in names}
    providers = metadata.packages_distributions()
    for top in sorted(imported):
        if not wanted & {_canonical(dist) for dist in providers.get(top, [])}:
            raise PdnError(
                f"the migrate image's modules import {top}, which none of {', '.join(names)} provides",
                hint="add its distribution to MIGRATE_DISTRIBUTIONS in pdn.nodes.podimages",
            )
    for name in names:
        for line in metadata.distribution(name).requires or []:
            requirement = Requirement(line)
            if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
                continue
            if _canonical(requirement.name) not in wanted:
                raise PdnError(
                    f"{name} requires {requirement.name}, which the migrate image does not hold",
                    hint="add it to MIGRATE_DISTRIBUTIONS in pdn.nodes.podimages",
                )


def _distribution_files(name: str) -> list[tuple[Path, Path]]:
    """(installed file, path below site-packages) of one distribution, from its RECORD, without
    bytecode, scripts outside site-packages, or botocore's models of services pods never call."""
    dist = metadata.distribution(name)
    files = []
    for item in dist.files or []:
        relative = Path(str(item))
        if ".." in relative.parts or "__pycache__" in relative.parts or relative.suffix == ".pyc":
            continue
        parts = relative.parts
        if parts[:2] == ("botocore", "data") and len(parts) > 3 and parts[2] not in BOTOCORE_SERVICES:
            continue
        files.append((Path(str(dist.locate_file(item))), relative))
    if not files:
        raise PdnError(f"distribution {name} lists no files (RECORD missing?)", hint="pip install --force-reinstall it")
    return files


def _stage_migrate(context: Path, base: str) -> None:
    """Python from the node image, the distributions from this environment, pdn's own modules."""
    if sys.version_info[:2] != (3, 11):  # compiled wheels must fit the node image's python3.11
        raise PdnError(f"the migrate image is staged from Python 3.11, this is {sys.version.split()[0]}")
    rootfs = context / "rootfs"
    site = rootfs / MIGRATE_SITE
    modules, outside = pdn_closure()
    check_distributions(outside)
    for name in MIGRATE_DISTRIBUTIONS:
        for source, relative in _distribution_files(name):
            (site / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, site / relative)
    package_root = Path(__file__).resolve().parents[2]  # scripts/
    for path in modules.values():
        target = site / path.relative_to(package_root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    _copy_closure(base, (PYTHON,), rootfs, PYTHON_DATA)  # also the libraries of the staged *.so
    stdlib = rootfs / PYTHON_DATA[0].lstrip("/")
    for name in STDLIB_DROPPED:
        dropped = stdlib / name
        if dropped.is_dir() and not dropped.is_symlink():
            shutil.rmtree(dropped)
        else:
            dropped.unlink(missing_ok=True)
    for cache in sorted(rootfs.rglob("__pycache__"), reverse=True):
        shutil.rmtree(cache)
    (rootfs / "usr" / "bin" / "python3").symlink_to("python3.11")


def kube_proxy_image(kubernetes_version: str) -> PodImage:
    """kube-proxy at ``kubernetes_version``: kubeadm deploys (and an upgrade re-tags) it per release."""
    tool = load_lock().tool_at("kube-proxy", kubernetes_version)
    return PodImage(
        "kube-proxy",
        f"registry.k8s.io/kube-proxy:{kubernetes_version}",
        _stage_with_nft(tool, "/usr/local/bin/kube-proxy"),
        release=kubernetes_version,
    )


def pod_images(kubernetes_version: str) -> list[PodImage]:
    """Every image a real node runs; names follow what kubeadm and upstream manifests use."""
    lock = load_lock()
    coredns = lock.units["coredns"].version
    router = lock.units["kube-router"].version
    return [
        PodImage("pause", "registry.k8s.io/pause:3.10.1", _stage_pause),
        PodImage("coredns", f"registry.k8s.io/coredns/coredns:{coredns}", _stage_single("coredns", "/coredns")),
        kube_proxy_image(kubernetes_version),
        PodImage(
            "kube-router",
            f"docker.io/cloudnativelabs/kube-router:{router}",
            _stage_with_nft("kube-router", "/usr/local/bin/kube-router"),
        ),
        PodImage(
            "local-path-provisioner",
            f"docker.io/rancher/local-path-provisioner:{lock.units['local-path-provisioner'].version}",
            _stage_single("local-path-provisioner", "/usr/bin/local-path-provisioner"),
        ),
        PodImage("velero", VELERO_IMAGE, _stage_velero),
        PodImage("workload", "localhost/pdn/workload:busybox", _stage_busybox),
        PodImage("migrate", LAB_IMAGE, _stage_migrate),
    ]


def _digest(folder: Path, containerfile: Path) -> str:
    digest = hashlib.sha256(containerfile.read_bytes())
    for path in sorted(p for p in folder.rglob("*") if p.is_file() or p.is_symlink()):
        digest.update(str(path.relative_to(folder)).encode())
        digest.update(path.read_bytes() if not path.is_symlink() else str(path.readlink()).encode())
    return digest.hexdigest()[:12]


def archive_name(image: PodImage, digest: str) -> str:
    return f"{image.slot}-{digest}.tar"


def _replaced(archive: Path, image: PodImage) -> bool:
    """An archive of ``image``'s recipe that its new build replaces: one of the same slot, or one
    named before releases were in the name (``<recipe>-<digest>``, it carries the same tag)."""
    rest = archive.name.removeprefix(f"{image.recipe}-").removesuffix(".tar")
    if re.fullmatch(r"[0-9a-f]{12}", rest):
        return True
    return bool(image.release) and rest.startswith(f"{image.release}-")


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
        if old != archive and _replaced(old, image):
            old.unlink()
    return archive


#: Where nodes see the archives, and where ``pdn-import-images`` (scripts/pdn/nodes/files) keeps
#: one stamp per archive it imported.
NODE_IMAGES = "/opt/pdn/images"
IMPORT_STAMPS = "/var/lib/containerd/pdn-imported"
IMPORT_TIMEOUT = 300.0


def import_script(images: str = NODE_IMAGES, stamps: str = IMPORT_STAMPS) -> str:
    """Shell run inside a node: wait for the boot-time import, then run it again only when an
    archive has no stamp yet (built after the node booted); prints ``imported`` when it did."""
    return (
        "set -eu; systemctl start pdn-images.service; "
        f'for a in {images}/*.tar; do [ -f "$a" ] || continue; '
        f'[ -e "{stamps}/$(basename "$a" .tar)" ] && continue; '
        "systemctl restart pdn-images.service; echo imported; exit 0; done"
    )


def import_new_archives(node_names: Sequence[str]) -> list[str]:
    """Import the archives built since these running nodes booted; return the nodes that did.

    A node imports every archive at boot (``pdn-images.service``), so one that kept running
    through a ``pdn lab up`` that built a new archive would never see it. Idempotent: a node
    that holds a stamp for every archive only confirms it.
    """
    imported = []
    for name in node_names:

        def answers(name: str = name) -> bool:  # a resumed node's systemd may still be starting
            probe = ["exec", name, "systemctl", "show", "--property=Version", "--value"]
            return podman(probe, check=False).returncode == 0

        wait_until(f"systemd in {name} to answer", answers, timeout=120, interval=1.0, hint=f"podman logs {name}")
        done = podman(["exec", name, "sh", "-c", import_script()], check=False, timeout=IMPORT_TIMEOUT)
        if done.returncode != 0:
            raise PdnError(
                f"{name}: importing the pod images failed: {(done.stderr or done.stdout).strip()[-300:]}",
                hint=f"podman exec {name} journalctl -u pdn-images.service",
            )
        if "imported" in done.stdout.split():
            imported.append(name)
    return imported


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
