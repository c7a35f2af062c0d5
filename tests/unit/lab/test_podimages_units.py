"""The migrate pod image's staging decisions and the re-import on running nodes, without podman.

What goes into the image is derived: pdn modules by following imports from the entry modules,
distributions from installed metadata (checked complete against those imports and their
requirements). The image itself is built and run in tests/nodes/images.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pdn.errors import PdnError
from pdn.nodes import podimages


def test_pdn_closure_follows_imports_and_stays_small() -> None:
    modules, outside = podimages.pdn_closure()
    for name in (*podimages.MIGRATE_MODULES, "pdn", "pdn.migrate", "pdn.migrate.wire", "pdn.s3client", "pdn.proxyenv"):
        assert name in modules, name  # wire and s3client are imported inside functions only
    assert all(path.is_file() for path in modules.values())
    assert not {"pdn.cli", "pdn.migrate.cli", "pdn.migrate.dedup", "pdn.kube", "pdn.nodes"} & set(modules)
    assert {"boto3", "botocore", "urllib3", "yaml"} <= outside
    assert not {"kubernetes", "typer", "rich", "pydantic", "scipy"} & outside  # the CLI's, not the pods'
    podimages.check_distributions(outside)  # MIGRATE_DISTRIBUTIONS provides all of them


def test_the_distribution_list_is_minimal() -> None:
    """Each listed distribution is imported by the pods' modules or required by another listed one."""
    from importlib import metadata

    from packaging.requirements import Requirement

    _, outside = podimages.pdn_closure()
    providers = metadata.packages_distributions()
    needed = {podimages._canonical(dist) for top in outside for dist in providers.get(top, [])}
    for name in podimages.MIGRATE_DISTRIBUTIONS:
        for line in metadata.distribution(name).requires or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                needed.add(podimages._canonical(requirement.name))
    assert {podimages._canonical(name) for name in podimages.MIGRATE_DISTRIBUTIONS} <= needed


def test_pdn_closure_names_a_missing_entry_module() -> None:
    with pytest.raises(PdnError, match=r"pdn\.migrate\.nothing"):
        podimages.pdn_closure(("pdn.migrate.nothing",))


def test_distributions_cover_imports_and_requirements() -> None:
    podimages.check_distributions({"boto3", "botocore", "urllib3", "yaml", "dateutil"})
    with pytest.raises(PdnError, match="import rich"):
        podimages.check_distributions({"rich"})
    without_six = tuple(name for name in podimages.MIGRATE_DISTRIBUTIONS if name != "six")
    with pytest.raises(PdnError, match="python-dateutil requires six"):
        podimages.check_distributions(set(), without_six)


def test_botocore_keeps_only_the_models_pods_use() -> None:
    paths = {str(relative) for _, relative in podimages._distribution_files("botocore")}
    services = {path.split("/")[2] for path in paths if path.startswith("botocore/data/") and path.count("/") > 2}
    assert services == set(podimages.BOTOCORE_SERVICES)
    assert {"botocore/data/endpoints.json", "botocore/data/s3/2006-03-01/service-2.json.gz"} <= paths
    assert not any("__pycache__" in path or path.endswith(".pyc") or ".." in path for path in paths)


def test_migrate_image_is_listed_under_its_name() -> None:
    images = {image.recipe: image for image in podimages.pod_images("v1.34.4")}
    assert images["migrate"].name == "localhost/pdn/migrate:lab"
    text = images["migrate"].containerfile.read_text()
    assert "FROM scratch" in text and "USER 10001:10001" in text and "compileall" in text


def run_import(tmp_path: Path, archives: list[str], stamped: list[str]) -> tuple[str, list[str]]:
    """The node-side import script with a recording ``systemctl``: (its output, systemctl calls)."""
    images, stamps, tools = tmp_path / "images", tmp_path / "stamps", tmp_path / "bin"
    for folder in (images, stamps, tools):
        folder.mkdir(parents=True, exist_ok=True)
    for name in archives:
        (images / f"{name}.tar").write_bytes(b"archive")
    for name in stamped:
        (stamps / name).touch()
    calls = tmp_path / "calls"
    systemctl = tools / "systemctl"
    systemctl.write_text(f'#!/bin/sh\necho "$*" >> {calls}\n')
    systemctl.chmod(0o755)
    script = podimages.import_script(str(images), str(stamps))
    done = subprocess.run(
        ["sh", "-c", script], capture_output=True, text=True, check=True, env={"PATH": f"{tools}:/usr/bin:/bin"}
    )
    return done.stdout, calls.read_text().splitlines() if calls.exists() else []


def test_a_running_node_imports_only_when_an_archive_is_new(tmp_path: Path) -> None:
    out, calls = run_import(tmp_path, ["pause-1", "migrate-2"], ["pause-1", "migrate-2"])
    assert (out, calls) == ("", ["start pdn-images.service"])  # everything imported already: nothing
    out, calls = run_import(tmp_path / "b", ["pause-1", "migrate-3"], ["pause-1", "migrate-2"])
    assert out.split() == ["imported"]
    assert calls == ["start pdn-images.service", "restart pdn-images.service"]
    out, calls = run_import(tmp_path / "c", [], [])
    assert (out, calls) == ("", ["start pdn-images.service"])


def test_each_release_gets_its_own_kube_proxy_and_control_plane(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pdn.capi import images
    from pdn.nodes import podimages

    copied: list[str] = []
    monkeypatch.setattr(podimages, "_copy_tool", lambda tool, _target: copied.append(tool))
    monkeypatch.setattr(
        podimages, "_copy_closure", lambda _base, _tools, rootfs, _data: (rootfs / "usr/sbin").mkdir(parents=True)
    )
    monkeypatch.setattr(images, "resolve", lambda tool: copied.append(tool) or Path("/bin/true"))
    podimages.kube_proxy_image("v1.34.3").stage(tmp_path / "a", "base")
    podimages.kube_proxy_image("v1.34.4").stage(tmp_path / "b", "base")
    assert copied == ["kube-proxy-previous", "kube-proxy"]

    current = images.control_plane_images()
    previous = images.control_plane_images("v1.34.3")
    assert [i.name for i in current] == [
        "registry.k8s.io/kube-apiserver:v1.34.4", "registry.k8s.io/kube-controller-manager:v1.34.4",
        "registry.k8s.io/kube-scheduler:v1.34.4", f"registry.k8s.io/etcd:{images.etcd_image_tag()}",
    ]  # fmt: skip
    assert [i.name for i in previous] == [
        "registry.k8s.io/kube-apiserver:v1.34.3", "registry.k8s.io/kube-controller-manager:v1.34.3",
        "registry.k8s.io/kube-scheduler:v1.34.3", f"registry.k8s.io/etcd:{images.etcd_image_tag()}",
        "registry.k8s.io/kube-proxy:v1.34.3",  # the site model's kube-proxy is a real-node pod image already
    ]  # fmt: skip
    copied.clear()
    previous[0].stage(tmp_path / "c", "base")
    assert copied == ["kube-apiserver-previous"]


def test_node_images_of_other_releases_are_kept_when_one_is_rebuilt() -> None:
    from pdn.nodes.kubenode import IMAGE_REPO, _other_release

    assert _other_release(f"{IMAGE_REPO}:v1.34.3-0123456789ab", "v1.34.4")
    assert not _other_release(f"{IMAGE_REPO}:v1.34.4-0123456789ab", "v1.34.4")  # an older build of it
    assert not _other_release(f"{IMAGE_REPO}:0123456789ab", "v1.34.4")  # the tag before releases were in it


def test_a_new_build_replaces_only_the_archive_of_its_own_release(tmp_path: Path) -> None:
    """Archives of two releases live side by side; a rebuild of one replaces that one only, and an
    archive named before releases were in the name (the same tag) goes too."""
    from pdn.nodes.podimages import _replaced, kube_proxy_image

    current, previous = kube_proxy_image("v1.34.4"), kube_proxy_image("v1.34.3")
    assert current.slot == "kube-proxy-v1.34.4"
    assert _replaced(tmp_path / "kube-proxy-v1.34.4-0123456789ab.tar", current)
    assert not _replaced(tmp_path / "kube-proxy-v1.34.3-0123456789ab.tar", current)
    assert _replaced(tmp_path / "kube-proxy-0123456789ab.tar", current)
    assert _replaced(tmp_path / "kube-proxy-v1.34.3-fedcba987654.tar", previous)
    pause = next(image for image in podimages.pod_images("v1.34.4") if image.recipe == "pause")
    assert pause.slot == "pause" and _replaced(tmp_path / "pause-0123456789ab.tar", pause)
