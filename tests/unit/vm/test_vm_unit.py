"""pdn.vm without a VM: image recipe, qemu command line, inventory, OpenSCAP results and waivers."""

from __future__ import annotations

from pathlib import Path

import pytest

from pdn.errors import InputError, PdnError
from pdn.vm import image as vm_image
from pdn.vm.inventory import inventory_data
from pdn.vm.machine import Vm, _qemu_command
from pdn.vm.oscap import PROFILE, RULE_PREFIX, ScanResult, load_waivers, parse_results

RESULTS = f"""<?xml version="1.0"?>
<Benchmark xmlns="http://checklists.nist.gov/xccdf/1.2">
  <TestResult id="t">
    <rule-result idref="{RULE_PREFIX}sshd_disable_root_login"><result>pass</result></rule-result>
    <rule-result idref="{RULE_PREFIX}package_ntp_installed"><result>fail</result></rule-result>
    <rule-result idref="{RULE_PREFIX}partition_for_tmp"><result>notapplicable</result></rule-result>
    <rule-result idref="{RULE_PREFIX}not_in_profile"><result>notselected</result></rule-result>
    <rule-result idref="{RULE_PREFIX}broken"><result>error</result></rule-result>
  </TestResult>
</Benchmark>
"""


def test_recipe_hash_is_stable_and_follows_the_recipe(monkeypatch: pytest.MonkeyPatch) -> None:
    first = vm_image.recipe_hash()
    assert first == vm_image.recipe_hash() and len(first) == 12
    monkeypatch.setattr(vm_image, "VM_PACKAGES", (*vm_image.VM_PACKAGES, "tmux"))
    assert vm_image.recipe_hash() != first


def test_image_carries_kernel_openscap_and_the_node_packages() -> None:
    packages = vm_image.recipe()["packages"]
    assert isinstance(packages, list)
    for name in ("linux-image-amd64", "openscap-scanner", "ssg-debian", "openssh-server", "auditd", "nftables"):
        assert name in packages


def test_separate_filesystems_innermost_last() -> None:
    mounts = [fs.mountpoint for fs in vm_image.FILESYSTEMS]
    assert mounts[0] == "/"
    assert {"/var", "/var/log", "/var/log/audit", "/home"} <= set(mounts)
    assert mounts.index("/var") < mounts.index("/var/log") < mounts.index("/var/log/audit")
    assert len({fs.label for fs in vm_image.FILESYSTEMS}) == len(mounts)


def test_qemu_listens_on_loopback_only_and_isolates_the_guest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PDN_VM_ACCEL", raising=False)
    monkeypatch.setattr("pdn.vm.machine.require", lambda tool, package: f"/usr/bin/{tool}")
    command = _qemu_command("pdntest-vm", vm_image.VmImage(tmp_path), 24990, tmp_path, 2048, 2)
    netdev = command[command.index("-netdev") + 1]
    assert "restrict=on" in netdev
    assert "hostfwd=tcp:127.0.0.1:24990-:22" in netdev
    assert netdev.count("hostfwd") == 1
    assert "q35,accel=tcg" in command
    drives = [command[i + 1] for i, arg in enumerate(command) if arg == "-drive"]
    assert len(drives) == len(vm_image.FILESYSTEMS)
    assert all(str(tmp_path) in drive for drive in drives)
    assert "pdn-pdntest-vm" in command


def test_inventory_puts_the_vm_in_its_site_and_role(tmp_path: Path) -> None:
    vm = Vm(name="pdntest-vm", port=24990, image=tmp_path)
    data = inventory_data(vm, site="labuan-bajo", role="worker")
    children = data["all"]["children"]
    host = children["site_labuan_bajo"]["hosts"]["pdntest-vm"]
    assert host["ansible_port"] == 24990 and host["ansible_host"] == "127.0.0.1"
    assert host["ansible_ssh_private_key_file"] == str(tmp_path / "id_ed25519")
    assert "StrictHostKeyChecking=yes" in host["ansible_ssh_common_args"]
    assert host["pdn_os_time_servers"] == ["127.0.0.1"]
    assert children["kubernetes"]["children"]["worker"]["hosts"] == {"pdntest-vm": None}
    assert children["kubernetes"]["children"]["control_plane"]["hosts"] == {}


def test_parse_results_counts_selected_rules() -> None:
    results = parse_results(RESULTS)
    assert results == {
        "sshd_disable_root_login": "pass",
        "package_ntp_installed": "fail",
        "partition_for_tmp": "notapplicable",
        "broken": "error",
    }
    scan = ScanResult(PROFILE, results)
    assert scan.counts == {"pass": 1, "fail": 1, "notapplicable": 1, "error": 1}
    assert scan.failed == ["broken", "package_ntp_installed"]


def test_parse_results_refuses_an_empty_document() -> None:
    with pytest.raises(PdnError):
        parse_results('<Benchmark xmlns="http://checklists.nist.gov/xccdf/1.2"/>')


def test_waivers_file_gives_a_reason_for_every_rule() -> None:
    waivers = load_waivers()
    assert waivers.profile == PROFILE
    assert 0 < len(waivers.reasons) <= waivers.max_failures <= 15
    assert all(len(reason) > 20 for reason in waivers.reasons.values())


def test_waiver_without_reason_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "waivers.yml"
    path.write_text("profile: p\nwaivers:\n  package_ntp_installed: ''\n")
    with pytest.raises(InputError, match="package_ntp_installed"):
        load_waivers(path)
    path.write_text("- not a mapping\n")
    with pytest.raises(InputError):
        load_waivers(path)
