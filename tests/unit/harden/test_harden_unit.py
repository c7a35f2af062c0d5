"""Unit tests of the hardening tooling: stats and judge parsing, inventories, role documentation."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pdn.harden.inventory import site_inventory
from pdn.harden.report import (
    LynisResult,
    NodeReport,
    SshAuditResult,
    parse_lynis_report,
    parse_ssh_audit,
    summary_markdown,
    to_html,
    to_markdown,
)
from pdn.harden.runner import (
    HostRecap,
    PlaybookRun,
    TaskFailure,
    ansible_environment,
    failure_from_event,
    final_failures,
    recap_from_stats,
    roles_dir,
)
from pdn.nodes.inventory import inventory_data, site_group
from pdn.nodes.runtime import Node, plan_roles
from pdn.paths import repo_root
from pdn.sites import load_sites

ROLES_DIR = roles_dir()
ROLES = sorted(path.name for path in ROLES_DIR.iterdir() if path.is_dir())


def test_recap_comes_from_ansible_stats_with_rescued_and_ignored() -> None:
    stats = {
        "ok": {"pdn-a-node-1": 69, "pdn-a-node-2": 60}, "changed": {"pdn-a-node-1": 3},
        "dark": {"pdn-a-node-2": 1}, "failures": {"pdn-a-node-2": 2}, "skipped": {"pdn-a-node-1": 5},
        "rescued": {"pdn-a-node-1": 1}, "ignored": {"pdn-a-node-1": 4}, "processed": {"pdn-a-node-1": 1,
        "pdn-a-node-2": 1, "pdn-a-node-3": 1},
    }  # fmt: skip
    recap = recap_from_stats(stats)
    assert recap["pdn-a-node-1"] == HostRecap(ok=69, changed=3, skipped=5, rescued=1, ignored=4)
    assert recap["pdn-a-node-2"] == HostRecap(ok=60, unreachable=1, failed=2)
    assert recap["pdn-a-node-3"] == HostRecap()  # processed, nothing counted


def test_a_run_without_stats_is_not_ok(tmp_path: Path) -> None:
    assert not PlaybookRun(0, 1.0, tmp_path / "x.log").ok
    assert PlaybookRun(0, 1.0, tmp_path / "x.log", {"h": HostRecap(ok=1)}).ok
    assert not PlaybookRun(0, 1.0, tmp_path / "x.log", {"h": HostRecap(ok=1, unreachable=1)}).ok


def test_failures_come_from_failed_events_not_ignored_ones() -> None:
    failed = {"event": "runner_on_failed", "event_data": {"host": "h", "task": "T", "res": {"msg": "boom\nmore"}}}
    ignored = {"event": "runner_on_failed", "event_data": {"host": "h", "task": "T", "ignore_errors": True}}
    down = {"event": "runner_on_unreachable", "event_data": {"host": "h", "task": "T", "res": {"msg": "no route"}}}
    assert failure_from_event(failed) == TaskFailure("h", "T", "boom")
    assert failure_from_event(ignored) is None
    assert failure_from_event(down) == TaskFailure("h", "T", "no route")
    assert failure_from_event({"event": "runner_on_ok", "event_data": {"host": "h"}}) is None


def test_rescued_failures_before_the_fatal_one_do_not_count() -> None:
    rescued, fatal, other = TaskFailure("a", "r", "x"), TaskFailure("a", "f", "y"), TaskFailure("b", "r", "z")
    recap = {"a": HostRecap(failed=1, rescued=1), "b": HostRecap(ok=3, rescued=1)}
    assert final_failures([rescued, other, fatal], recap) == [fatal]
    assert final_failures([rescued, fatal], {}) == [rescued, fatal]  # no stats: Ansible crashed, keep all


def test_ansible_sees_no_credentials_and_checks_host_keys() -> None:
    env = ansible_environment(
        "ansible", {"PATH": "/usr/bin", "HOME": "/root", "AWS_SECRET_ACCESS_KEY": "s3cr3t",
                    "PULUMI_CONFIG_PASSPHRASE": "p", "ANSIBLE_FORKS": "4"},
    )  # fmt: skip
    assert "AWS_SECRET_ACCESS_KEY" not in env and "PULUMI_CONFIG_PASSPHRASE" not in env
    assert env["PATH"] == "/usr/bin" and env["ANSIBLE_FORKS"] == "4"
    assert env["ANSIBLE_HOST_KEY_CHECKING"] == "True"
    assert env["ANSIBLE_CONFIG"].endswith("playbooks/ansible.cfg")


def test_parse_lynis_report() -> None:
    result = parse_lynis_report(
        "hardening_index=87\nlynis_tests_done=250\nwarning[]=NTP-1|no ntp|-|\n"
        "suggestion[]=SSH-7408|Consider hardening|-|\nsuggestion[]=KRNL-6000|sysctl|-|\nbroken line\n"
    )
    assert result.hardening_index == 87 and result.tests_performed == 250
    assert result.warnings == ["NTP-1|no ntp|-|"] and len(result.suggestions) == 2


def test_parse_lynis_report_without_index() -> None:
    assert parse_lynis_report("lynis_version=3.0.8\n").hardening_index is None


def test_parse_ssh_audit_counts_failures_and_warnings() -> None:
    data = {
        "kex": [{"algorithm": "curve25519-sha256", "notes": {"warn": ["no post-quantum"]}}],
        "key": [{"algorithm": "ssh-rsa", "notes": {"fail": ["SHA-1"], "warn": ["x"]}}],
        "enc": [{"algorithm": "aes256-gcm@openssh.com", "notes": {"info": ["ok"]}}],
        "mac": [],
        "cves": [{"name": "CVE-2023-48795"}],
    }
    result = parse_ssh_audit(data)
    assert result.failures == ["key ssh-rsa: SHA-1"]
    assert len(result.warnings) == 2 and result.cves == ["CVE-2023-48795"]


def test_reports_render_markdown_and_html_without_raw_markup() -> None:
    report = NodeReport(
        "pdn-x-node-1", "worker", LynisResult(86, 250, ["W|<b>|"], ["S|x|"]), SshAuditResult(warnings=["kex a: b"])
    )
    md = to_markdown(report)
    assert "| Lynis hardening index | 86 |" in md and "ssh-audit failures | 0" in md
    page = to_html(report)
    assert "<table>" in page and "</table>" in page and "&lt;b&gt;" in page and "<b>" not in page
    assert "[pdn-x-node-1](pdn-x-node-1.md) | worker | 86" in summary_markdown([report])


@pytest.mark.parametrize("site_id", load_sites().ids)
def test_site_inventory_matches_the_site_model(site_id: str) -> None:
    site = load_sites().site(site_id)
    data = site_inventory(site)
    hosts = data["all"]["children"][site_group(site_id)]["hosts"]
    roles = data["all"]["children"]["kubernetes"]["children"]
    assert len(roles["control_plane"]["hosts"]) == site.kubernetes.control_plane.replicas
    assert len(hosts) == site.kubernetes.control_plane.replicas + sum(p.replicas for p in site.kubernetes.worker_pools)
    storage = sum(p.replicas for p in site.kubernetes.worker_pools if p.labels.get("pdn.go.id/pool-role") == "storage")
    assert len(roles["storage"]["hosts"]) == storage
    zones = {fd.zone for fd in site.failure_domains}
    assert {host["pdn_zone"] for host in hosts.values()} <= zones
    cp_zones = {hosts[name]["pdn_zone"] for name in roles["control_plane"]["hosts"]}
    assert len(cp_zones) == min(len(zones), site.kubernetes.control_plane.replicas)


def test_plan_roles_uses_the_site_model() -> None:
    model = load_sites()
    with_storage = next(s for s in model.sites if any(p.labels for p in s.kubernetes.worker_pools))
    without = next(s for s in model.sites if not any(p.labels for p in s.kubernetes.worker_pools))
    assert plan_roles(with_storage, 4) == ["control-plane", "worker", "worker", "storage"]
    assert plan_roles(without, 4) == ["control-plane", "worker", "worker", "worker"]
    assert plan_roles(without, 1) == ["control-plane"]
    assert plan_roles(without, 3, ["worker"]) == ["worker"] * 3


def test_lab_inventory_groups_by_site_and_role_and_stays_on_loopback() -> None:
    nodes = [
        Node("pdn-cikarang-node-1", "cikarang", 1, "control-plane", "hall-a", "cikarang-a", 22101),
        Node("pdn-labuan-bajo-node-1", "labuan-bajo", 1, "worker", "hall-a", "labuan-bajo-a", 22401),
    ]
    data = inventory_data(nodes)["all"]
    assert set(data["children"]) == {"site_cikarang", "site_labuan_bajo", "kubernetes"}
    host = data["children"]["site_labuan_bajo"]["hosts"]["pdn-labuan-bajo-node-1"]
    assert host["ansible_host"] == "127.0.0.1" and host["ansible_port"] == 22401
    assert host["pdn_os_time_servers"] == ["127.0.0.1"]
    assert all(target["host"] == "127.0.0.1" for target in host["pdn_os_log_targets"])
    assert "pdn-cikarang-node-1" in data["children"]["kubernetes"]["children"]["control_plane"]["hosts"]
    assert "StrictHostKeyChecking=yes" in data["vars"]["ansible_ssh_common_args"]


@pytest.mark.parametrize("role", ROLES)
def test_argument_specs_document_every_default(role: str) -> None:
    defaults = yaml.safe_load((ROLES_DIR / role / "defaults" / "main.yml").read_text()) or {}
    spec = yaml.safe_load((ROLES_DIR / role / "meta" / "argument_specs.yml").read_text())
    options = spec["argument_specs"]["main"]["options"]
    assert set(defaults) == set(options)
    for name, option in options.items():
        assert name.startswith(role + "_"), name
        assert option["description"], name
        assert option["default"] == defaults[name], name


@pytest.mark.parametrize("site_id", load_sites().ids)
def test_every_site_has_group_vars(site_id: str) -> None:
    path = repo_root() / "playbooks" / "group_vars" / f"{site_group(site_id)}.yml"
    values = yaml.safe_load(path.read_text())
    assert values["pdn_os_time_servers"] and values["pdn_os_log_targets"]


def test_banner_is_bilingual() -> None:
    text = yaml.safe_load((repo_root() / "playbooks" / "group_vars" / "all.yml").read_text())["pdn_os_banner_text"]
    assert "PERINGATAN" in text and "WARNING" in text


def test_playbooks_pass_syntax_check() -> None:
    playbook = Path(sys.executable).with_name("ansible-playbook")
    inventory = "localhost,"
    for name in ("harden.yml", "verify.yml", "site.yml"):
        proc = subprocess.run(
            [str(playbook), "-i", inventory, "--syntax-check", str(repo_root() / "playbooks" / name)],
            capture_output=True, text=True, cwd=repo_root() / "playbooks",
            env={"ANSIBLE_CONFIG": str(repo_root() / "playbooks" / "ansible.cfg"), "PATH": "/usr/bin:/bin",
                 "HOME": str(Path.home())},
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr


def test_ansible_lint_production_profile_is_clean() -> None:
    lint = Path(sys.executable).with_name("ansible-lint")
    env = {**os.environ, "ANSIBLE_CONFIG": str(repo_root() / "playbooks" / "ansible.cfg")}
    proc = subprocess.run(
        [str(lint), "--offline", "-q", "--nocolor", "playbooks"], capture_output=True, text=True, cwd=repo_root(),
        env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
