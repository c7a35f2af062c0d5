"""A running real node imports the pod image archives built after it booted (``pdn lab up`` again).

One real-node container (the kube node image, systemd, containerd, ``pdn-images.service``; not
joined: importing images needs no cluster) boots with one archive in its image folder. A second
archive appears while it runs, as when ``pdn lab up`` rebuilds an image: containerd only has it
after :func:`pdn.nodes.podimages.import_new_archives`, which does nothing when nothing is new.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pdn.nodes.kubenode import ensure_kube_image
from pdn.nodes.podimages import images_dir, import_new_archives
from pdn.nodes.podman import podman
from pdn.nodes.runtime import KUBE_ULIMITS


def archive_of(recipe: str) -> Path:
    found = sorted(images_dir().glob(f"{recipe}-*.tar"))
    if not found:
        pytest.fail(f"no {recipe} archive in {images_dir()}: run pdn lab up (or pdn test kube) first", pytrace=False)
    return found[-1]


def node_images(name: str) -> str:
    return podman(["exec", name, "ctr", "--namespace", "k8s.io", "images", "ls", "-q"]).stdout


@pytest.fixture
def booted(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """(container name, its image folder) of a real-node container booted with the pause archive."""
    folder = tmp_path / "images"
    folder.mkdir()
    shutil.copy2(archive_of("pause"), folder)
    name = f"pdn-reimport-{uuid.uuid4().hex[:8]}"
    podman(
        ["run", "-d", "--name", name, "--hostname", name, "--runtime", "runc", "--systemd=always", *KUBE_ULIMITS,
         "--privileged", "--cgroupns=private", "--stop-signal", "SIGRTMIN+3", "--network", "none",
         "-v", f"{folder}:/opt/pdn/images:ro", ensure_kube_image()],
        timeout=120,
    )  # fmt: skip
    try:
        yield name, folder
    finally:
        podman(["rm", "--force", "--time", "10", name], check=False, timeout=120)


def test_a_running_node_imports_a_new_archive_once(booted: tuple[str, Path]) -> None:
    name, folder = booted
    assert import_new_archives([name]) == []  # waits for the boot-time import; nothing new
    assert "registry.k8s.io/pause:3.10.1" in node_images(name)
    assert "localhost/pdn/workload:busybox" not in node_images(name)
    shutil.copy2(archive_of("workload"), folder)  # built while the node runs
    assert import_new_archives([name]) == [name]
    assert "localhost/pdn/workload:busybox" in node_images(name)
    assert import_new_archives([name]) == []  # idempotent
