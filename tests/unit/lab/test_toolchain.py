"""The toolchain lock, tool lookup and build bookkeeping (no Go build runs here)."""

from __future__ import annotations

import json
import re
from importlib import metadata
from pathlib import Path

import pytest

from pdn.errors import InputError, ToolMissingError
from pdn.sites import load_sites
from pdn.toolchain import bin_path, resolve
from pdn.toolchain.build import _staged_binary, auto_jobs, is_current, select_units
from pdn.toolchain.locate import STAMP, cached_binary, find, install_dir
from pdn.toolchain.lock import load_lock, parse_lock

LOCK = load_lock()


def test_kubernetes_pin_matches_every_site() -> None:
    versions = {site.kubernetes.version for site in load_sites().sites}
    assert versions == {LOCK.units["kubernetes"].version}


def test_provider_plugin_version_is_what_the_python_sdk_asks_for() -> None:
    plugin = LOCK.units["pulumi-resource-kubernetes"].plugin
    assert plugin is not None
    assert plugin.version == "v" + metadata.version(plugin.sdk_package)


@pytest.mark.parametrize("unit", list(LOCK.units.values()), ids=list(LOCK.units))
def test_each_unit_has_a_wrapper_module_pinning_its_source(unit) -> None:  # type: ignore[no-untyped-def]
    go_mod = (unit.module_dir / "go.mod").read_text()
    # A direct requirement, alone or in a require block.
    pin = rf"^(?:require +|\t){re.escape(unit.source)} {re.escape(unit.version)}$"
    assert re.search(pin, go_mod, re.M), go_mod[:300]
    assert (unit.module_dir / "go.sum").stat().st_size > 0


def test_wrapper_module_maps_every_staging_replace_to_the_release() -> None:
    go_mod = (LOCK.units["kubernetes"].module_dir / "go.mod").read_text()
    replaces = re.findall(r"^\s+(k8s\.io/\S+) => (\S+) (\S+)$", go_mod, re.M)
    assert len(replaces) >= 30
    assert {target for _, target, _ in replaces} == {name for name, _, _ in replaces}
    assert {version for _, _, version in replaces} == {"v0.34.4"}


def test_ldflags_fill_in_the_version() -> None:
    flags = LOCK.units["kubernetes"].rendered_ldflags()
    assert flags.startswith("-s -w")
    assert "version.gitVersion=v1.34.4" in flags and "version.gitMinor=34" in flags


def test_unknown_tool_is_an_input_error() -> None:
    with pytest.raises(InputError, match="known tools"):
        LOCK.unit_of("kubectl-but-not-pinned")


def test_bad_lock_is_rejected() -> None:
    with pytest.raises(ValueError):
        parse_lock("schema_version: 1\ngo: go1\nunits: {x: {module: x, source: y, version: v1, packages: {}}}\n")


def test_resolve_missing_tool_names_the_build_command(isolated: Path) -> None:
    with pytest.raises(ToolMissingError) as caught:
        resolve("kube-apiserver")
    assert caught.value.hint == "pdn toolchain build kube-apiserver"


def _fake_build(tool: str, recipe: str = "") -> Path:
    unit = LOCK.unit_of(tool)
    binary = cached_binary(tool, unit)
    binary.parent.mkdir(parents=True)
    binary.write_text("#!/bin/sh\necho built\n")
    binary.chmod(0o755)
    (install_dir(tool, unit.version) / STAMP).write_text(json.dumps({"tool": tool, "recipe": recipe}))
    return binary


def test_a_changed_recipe_makes_the_build_stale(isolated: Path) -> None:
    unit = LOCK.unit_of("etcd")
    _fake_build("etcd", recipe="0000000000000000")
    assert not is_current(unit)
    assert find("etcd") is not None  # the old binary is still the pinned version: usable meanwhile
    (install_dir("etcd", unit.version) / STAMP).write_text(json.dumps({"recipe": unit.recipe()}))
    assert is_current(unit)


def test_resolve_finds_a_finished_build_and_bin_path_lists_it(isolated: Path) -> None:
    binary = _fake_build("etcd")
    assert resolve("etcd") == binary.resolve()
    assert binary.parent in bin_path()


def test_binary_without_stamp_is_an_unfinished_build(isolated: Path) -> None:
    unit = LOCK.unit_of("etcd")
    binary = cached_binary("etcd", unit)
    binary.parent.mkdir(parents=True)
    binary.write_text("partial")
    assert find("etcd") is None


def _on_path(tmp: Path, name: str, prints: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp / "bin"
    folder.mkdir(exist_ok=True)
    script = folder / name
    script.write_text(f"#!/bin/sh\necho '{prints}'\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}:/usr/bin:/bin")
    return script


def test_tool_on_path_at_the_pinned_version_is_used(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = _on_path(isolated, "etcd", "etcd Version: 3.6.16", monkeypatch)
    found = find("etcd")
    assert found is not None and found.how == "PATH" and found.path == script


def test_tool_on_path_at_another_version_is_not_used(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _on_path(isolated, "etcd", "etcd Version: 3.6.160", monkeypatch)
    assert find("etcd") is None


def test_override_variable_wins(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PDN_TOOL_KUBE_APISERVER", "/opt/k8s/kube-apiserver")
    assert resolve("kube-apiserver") == Path("/opt/k8s/kube-apiserver")


def test_staged_binary_names(tmp_path: Path) -> None:
    (tmp_path / "server").write_text("")
    (tmp_path / "kwok").write_text("")
    assert _staged_binary(tmp_path, "etcd", "go.etcd.io/etcd/server/v3").name == "server"
    assert _staged_binary(tmp_path, "kwok", "sigs.k8s.io/kwok/cmd/kwok").name == "kwok"


def test_default_selection_builds_what_the_lab_and_the_drill_run() -> None:
    names = [unit.name for unit in select_units(LOCK, [], include_optional=False)]
    assert {"velero", "velero-plugin-for-aws"} <= set(names) and names[0] == "kubernetes"
    assert [unit.name for unit in select_units(LOCK, ["kube-scheduler", "etcd"], False)] == ["kubernetes", "etcd"]


def test_auto_jobs_is_between_one_and_two() -> None:
    assert 1 <= auto_jobs(8) <= 2
    assert auto_jobs(1) == 1


def test_node_wrapper_module_pins_what_the_control_plane_module_pins() -> None:
    """kubelet and friends come from the same k8s.io/kubernetes release and staging modules."""

    def go_mod(unit: str) -> str:
        return (LOCK.units[unit].module_dir / "go.mod").read_text()

    replace = re.compile(r"^\s+(k8s\.io/\S+ => \S+ \S+)$", re.M)
    assert replace.findall(go_mod("kubernetes-node")) == replace.findall(go_mod("kubernetes"))
    assert re.search(r"^require k8s\.io/kubernetes v1\.34\.4$", go_mod("kubernetes-node"), re.M)


def test_without_a_terminal_the_build_prints_plain_progress_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import time

    from rich.console import Console

    from pdn.toolchain import build as build_module
    from pdn.toolchain.build import Outcome

    output = io.StringIO()
    monkeypatch.setattr(build_module, "console", Console(file=output, force_terminal=False, width=200))
    monkeypatch.setattr(build_module, "PLAIN_PROGRESS_EVERY", 0.05)
    monkeypatch.setattr(build_module, "is_current", lambda unit: False)
    monkeypatch.setattr(build_module, "install_plugins", lambda lock: [])
    monkeypatch.setattr(build_module, "read_stamp", lambda tool, unit: None)
    monkeypatch.setattr(build_module, "record_time", lambda name, seconds: None)

    def slow_build(unit: object, on_step, force: bool = False) -> Outcome:  # type: ignore[no-untyped-def]
        on_step(7, 10, "compiling")
        time.sleep(2.5)
        return Outcome(unit.name, "built", 2.5)  # type: ignore[attr-defined]

    monkeypatch.setattr(build_module, "build_unit", slow_build)
    build_module.build(["etcd"], jobs=1)
    lines = [line for line in output.getvalue().splitlines() if line.startswith("toolchain:")]
    assert lines, output.getvalue()
    assert "0/1 units done; building etcd (7/10 packages)" in lines[0]


def test_the_previous_release_is_an_older_patch_built_as_the_current_ones_twin() -> None:
    """The capi tier's upgrade starts from ``kubernetes-previous``: the same minor, an older patch,
    every node and control-plane command of the current release, static, from its own module."""
    previous, current = LOCK.units["kubernetes-previous"], LOCK.units["kubernetes-node"]
    old, new = (tuple(int(x) for x in u.version.removeprefix("v").split(".")) for u in (previous, current))
    assert old[:2] == new[:2] and old[2] < new[2]
    for tool in ("kubelet", "kubeadm", "kube-proxy", "kube-apiserver-static", "kube-scheduler-static",
                 "kube-controller-manager-static"):  # fmt: skip
        twin = LOCK.tool_at(tool, previous.version)
        assert LOCK.unit_of(twin) is previous and LOCK.tool_at(tool, LOCK.unit_of(tool).version) == tool
    go_mod = (previous.module_dir / "go.mod").read_text()
    replaces = re.findall(r"^\s+(k8s\.io/\S+) => (\S+) (\S+)$", go_mod, re.M)
    assert {version for _, _, version in replaces} == {"v0.34.3"} and len(replaces) >= 30
    assert "v0.34.4" not in go_mod


def test_a_release_nothing_builds_is_an_input_error_naming_the_pinned_ones() -> None:
    with pytest.raises(InputError, match=r"kubelet \(static\) at v1\.30\.0; pinned: v1\.34\.3, v1\.34\.4"):
        LOCK.tool_at("kubelet", "v1.30.0")
    with pytest.raises(InputError, match=r"kube-apiserver \(with cgo\) at v1\.34\.3; pinned: v1\.34\.4"):
        LOCK.tool_at("kube-apiserver", "v1.34.3")  # the lab's own control plane has no previous release
