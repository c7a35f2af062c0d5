"""The hardening playbook on real Debian 12 node containers: every enabled control, idempotence,
check mode, no lock-out, Kubernetes prerequisites, and toggles that really switch a control off."""

from __future__ import annotations

import subprocess
import time
from typing import Any

import pytest
import yaml

HARDENED_ROLES = ("control-plane", "worker")


def config_lines(text: str) -> list[str]:
    """Lines that are not comments or blank."""
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def effective_sysctl(host: Any, key: str) -> str | None:
    """The value ``sysctl --system`` would leave for ``key`` at boot (files in lexical order)."""
    listing = host.check_output("ls /usr/lib/sysctl.d/*.conf /etc/sysctl.d/*.conf 2>/dev/null || true").split()
    by_name = {path.rsplit("/", 1)[1]: path for path in listing}  # /etc overrides /usr/lib of the same name
    value = None
    for name in sorted(by_name):
        for line in host.file(by_name[name]).content_string.splitlines():
            left, sep, right = line.partition("=")
            if sep and left.strip() == key and not line.lstrip().startswith(("#", ";")):
                value = right.strip()
    return value


# --- runs -------------------------------------------------------------------------------------------


def test_first_run_hardens_every_node(hardened: Any) -> None:
    assert hardened.first.ok
    assert set(hardened.first.recap) == {node.name for node in hardened.nodes}
    assert all(recap.changed > 10 for recap in hardened.first.recap.values())


def test_second_run_changes_nothing(hardened: Any) -> None:
    assert hardened.second.ok, hardened.second.log
    assert {host: r.changed for host, r in hardened.second.recap.items()} == {n.name: 0 for n in hardened.nodes}


def test_check_mode_on_hardened_nodes_changes_nothing(hardened: Any) -> None:
    assert hardened.check.ok, hardened.check.log
    assert {host: r.changed for host, r in hardened.check.recap.items()} == {n.name: 0 for n in hardened.nodes}


def test_check_mode_on_fresh_nodes_reports_changes_and_changes_nothing(hardened: Any) -> None:
    """On nodes not hardened yet, check mode says what it would change (a lot) and changes nothing."""
    run = hardened.fresh_check
    assert run.ok, run.log
    assert set(run.recap) == {node.name for node in hardened.nodes}
    for host, recap in run.recap.items():
        assert recap.changed > 10, f"{host}: check mode reports only {recap.changed} changes on a fresh node"
        assert recap.changed <= hardened.first.recap[host].changed + 5, (recap, hardened.first.recap[host])
    for node in hardened.nodes:
        before, after = hardened.fresh_before[node.name], hardened.fresh_after[node.name]
        assert before["etc-content"] and before["packages"], f"{node.name}: the state was not read"
        changed = [section for section in before if before[section] != after[section]]
        assert changed == [], f"{node.name}: check mode changed {changed}: " + "; ".join(
            _first_difference(before[section], after[section]) for section in changed
        )
    # the real run afterwards did change them: the state sections can see a hardening
    assert any(
        hardened.fresh_after[node.name]["etc-content"] != hardened.state(node.name)["etc-content"]
        for node in hardened.nodes
    )


def _first_difference(before: str, after: str) -> str:
    import difflib

    lines = list(difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0))
    return " | ".join(lines[2:8])


def test_container_is_detected_and_skips_are_reported(hardened: Any) -> None:
    log = hardened.first.log.read_text()
    assert "is a podman container" in log
    assert "not applied live" in log


# --- never locked out --------------------------------------------------------------------------------


def test_key_login_and_sudo_still_work(hardened: Any) -> None:
    from pdn.nodes.runtime import ssh_base_args

    for node in hardened.nodes:
        proc = subprocess.run([*ssh_base_args(node), "sudo -n id -u"], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0 and proc.stdout.strip() == "0", proc.stderr


def test_password_login_is_refused(hardened: Any) -> None:
    from pdn.nodes.runtime import known_hosts_path

    node = hardened.nodes[0]
    proc = subprocess.run(
        ["ssh", "-p", str(node.port), "-o", "BatchMode=yes", "-o", "PubkeyAuthentication=no",
         "-o", "PreferredAuthentications=password,keyboard-interactive",
         "-o", f"UserKnownHostsFile={known_hosts_path()}",
         f"ansible@{node.host}", "true"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 255
    assert "Permission denied (publickey)" in proc.stderr


# --- SSH -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["control-plane", "worker", "storage"])
def test_sshd_effective_settings(hosts: dict[str, Any], role: str) -> None:
    settings = dict(
        line.split(" ", 1) for line in hosts[role].check_output("/usr/sbin/sshd -T").splitlines() if " " in line
    )
    assert settings["permitrootlogin"] == "no"
    assert settings["passwordauthentication"] == "no"
    assert settings["kbdinteractiveauthentication"] == "no"
    assert settings["permitemptypasswords"] == "no"
    assert settings["x11forwarding"] == "no"
    assert settings["allowtcpforwarding"] == "no"
    assert settings["maxauthtries"] == "3"
    assert settings["allowgroups"] == "pdn-ssh"
    assert settings["authenticationmethods"] == "publickey"
    assert settings["kexalgorithms"].startswith("sntrup761x25519-sha512@openssh.com")
    assert not any(c.endswith("-cbc") for c in settings["ciphers"].split(","))
    assert all("etm" in mac for mac in settings["macs"].split(","))
    assert not hosts[role].file("/etc/ssh/ssh_host_ecdsa_key").exists


def test_ssh_audit_reports_no_failure(hardened: Any) -> None:
    from pdn.harden.report import run_ssh_audit

    for node in hardened.nodes:
        result = run_ssh_audit(node.host, node.port)
        assert result.error is None
        assert result.failures == [] and result.cves == []


# --- Kubernetes prerequisites --------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["control-plane", "worker", "storage"])
def test_kubernetes_prerequisites_intact(hosts: dict[str, Any], role: str) -> None:
    host = hosts[role]
    assert effective_sysctl(host, "net.ipv4.ip_forward") == "1"
    assert effective_sysctl(host, "net.bridge.bridge-nf-call-iptables") == "1"
    assert effective_sysctl(host, "net.bridge.bridge-nf-call-ip6tables") == "1"
    assert effective_sysctl(host, "vm.overcommit_memory") == "1"
    assert effective_sysctl(host, "kernel.panic_on_oops") == "1"
    modules = host.file("/etc/modules-load.d/pdn-kubernetes.conf").content_string.split()
    assert {"overlay", "br_netfilter"} <= set(modules)
    blocked = " ".join(config_lines(host.file("/etc/modprobe.d/60-pdn-hardening.conf").content_string))
    assert "install cramfs /bin/false" in blocked
    assert "overlay" not in blocked and "br_netfilter" not in blocked


def test_swap_is_disabled_at_boot(hosts: dict[str, Any]) -> None:
    fstab = hosts["control-plane"].file("/etc/fstab").content_string
    assert "# /swapfile none swap sw 0 0" in fstab


def test_kubelet_config_is_hardened_and_keeps_its_settings(hosts: dict[str, Any]) -> None:
    config_file = hosts["control-plane"].file("/var/lib/kubelet/config.yaml")
    assert config_file.mode == 0o600
    config = yaml.safe_load(config_file.content_string)
    assert config["readOnlyPort"] == 0
    assert config["protectKernelDefaults"] is True
    assert config["authentication"] == {"anonymous": {"enabled": False}, "webhook": {"enabled": True}}
    assert config["authorization"]["mode"] == "Webhook"
    assert config["rotateCertificates"] is True and config["seccompDefault"] is True
    assert config["clusterDNS"] == ["10.96.0.10"]


def test_firewall_keeps_role_ports_and_foreign_tables(hosts: dict[str, Any]) -> None:
    cp = hosts["control-plane"].check_output("nft list table inet pdn_filter")
    worker = hosts["worker"].check_output("nft list table inet pdn_filter")
    storage = hosts["storage"].check_output("nft list table inet pdn_filter")
    for ruleset in (cp, worker, storage):
        assert "policy drop" in ruleset and "tcp dport 22 accept" in ruleset and "10250" in ruleset
    assert "6443" in cp and "2379-2380" in cp
    assert "6443" not in worker and "30000-32767" in worker
    assert "6789" in storage
    assert "pdn_kube_proxy_sim" in hosts["control-plane"].check_output("nft list tables")
    assert "flush ruleset" not in config_lines(hosts["worker"].file("/etc/nftables.conf").content_string)
    assert hosts["worker"].service("nftables").is_enabled


# --- OS controls on the fully hardened nodes ----------------------------------------------------------------


@pytest.mark.parametrize("role", HARDENED_ROLES)
def test_kernel_hardening_persists(hosts: dict[str, Any], role: str) -> None:
    host = hosts[role]
    assert effective_sysctl(host, "kernel.randomize_va_space") == "2"
    assert effective_sysctl(host, "net.ipv4.conf.all.accept_redirects") == "0"
    assert effective_sysctl(host, "fs.suid_dumpable") == "0"
    assert "* hard core 0" in host.file("/etc/security/limits.d/60-pdn-core.conf").content_string
    assert "ulimit -c 0" in host.file("/etc/profile.d/60-pdn-core.sh").content_string
    # procps' vendor file of the same name sorts after ours and would set fs.protected_fifos = 1 at boot
    assert "fs.protected_fifos = 2" in host.file("/etc/sysctl.d/99-protect-links.conf").content_string
    assert host.run("bash -lc 'ulimit -c'").stdout.strip() == "0"
    assert "install cramfs /bin/false" in host.file("/etc/modprobe.d/60-pdn-hardening.conf").content_string


@pytest.mark.parametrize("role", HARDENED_ROLES)
def test_auditd_rules_and_service(hosts: dict[str, Any], role: str) -> None:
    host = hosts[role]
    rules = host.file("/etc/audit/rules.d/50-pdn.rules").content_string
    for rule in ("-w /etc/sudoers -p wa -k scope", "-k time-change", "-k identity", "-k perm_mod", "-k kernel_modules"):
        assert rule in rules
    assert "-e 2" not in rules  # immutable rules belong to the disruptive group
    assert host.service("auditd").is_enabled


@pytest.mark.parametrize("role", HARDENED_ROLES)
def test_pam_login_defs_and_sudo(hosts: dict[str, Any], role: str) -> None:
    host = hosts[role]
    auth = host.file("/etc/pam.d/common-auth").content_string
    assert "pam_faillock.so preauth" in auth and "pam_faillock.so authfail" in auth
    password = host.file("/etc/pam.d/common-password").content_string
    assert "pam_pwquality.so" in password and "pam_pwhistory.so" in password
    assert "minlen = 14" in host.file("/etc/security/pwquality.conf").content_string
    defs = host.file("/etc/login.defs").content_string
    assert "PASS_MAX_DAYS\t365" in defs and "ENCRYPT_METHOD YESCRYPT" in defs and "UMASK\t\t027" in defs
    assert "TMOUT=900" in host.file("/etc/profile.d/60-pdn-hardening.sh").content_string
    assert host.run("visudo -c").rc == 0
    assert "Defaults use_pty" in host.file("/etc/sudoers.d/60-pdn-hardening").content_string


@pytest.mark.parametrize("role", HARDENED_ROLES)
def test_permissions_suid_and_mounts(hosts: dict[str, Any], role: str) -> None:
    host = hosts[role]
    shadow = host.file("/etc/shadow")
    assert (shadow.user, shadow.group, shadow.mode) == ("root", "shadow", 0o640)
    assert host.file("/etc/crontab").mode == 0o600
    assert host.file("/etc/cron.allow").content_string == "root\n"
    assert not host.file("/etc/cron.deny").exists
    assert not host.file("/usr/bin/chfn").mode & 0o4000
    assert host.file("/usr/bin/sudo").mode & 0o4000  # never removed
    fstab = host.file("/etc/fstab").content_string
    assert "tmpfs /tmp tmpfs defaults,rw,nosuid,nodev,noexec" in fstab


@pytest.mark.parametrize("role", HARDENED_ROLES)
def test_time_updates_services_logging(hosts: dict[str, Any], role: str) -> None:
    host = hosts[role]
    assert config_lines(host.file("/etc/chrony/sources.d/pdn.sources").content_string) == ["server 127.0.0.1 iburst"]
    assert host.service("chrony").is_enabled
    assert not host.package("systemd-timesyncd").is_installed
    assert 'Unattended-Upgrade "1"' in host.file("/etc/apt/apt.conf.d/20auto-upgrades").content_string
    assert "masked" in host.run("systemctl is-enabled ctrl-alt-del.target").stdout
    assert "Storage=persistent" in host.file("/etc/systemd/journald.conf.d/60-pdn.conf").content_string
    assert 'target="127.0.0.1"' in host.file("/etc/rsyslog.d/60-pdn.conf").content_string
    assert host.service("rsyslog").is_running
    assert host.service("fail2ban").is_running
    assert host.service("acct").is_enabled


@pytest.mark.parametrize("role", HARDENED_ROLES)
def test_banner_in_indonesian_and_english_without_os_details(hosts: dict[str, Any], role: str) -> None:
    for path in ("/etc/issue", "/etc/issue.net", "/etc/motd"):
        text = hosts[role].file(path).content_string
        assert "PERINGATAN" in text and "WARNING" in text
        assert not any(escape in text for escape in ("\\m", "\\r", "\\s", "\\v"))


@pytest.mark.parametrize("role", HARDENED_ROLES)
def test_aide_baseline_is_built(hosts: dict[str, Any], role: str) -> None:
    host = hosts[role]
    assert "!/var/lib/containerd" in host.file("/etc/aide/aide.conf.d/99_aide_pdn_kubernetes").content_string
    deadline = time.monotonic() + 300
    while not host.file("/var/lib/aide/aide.db").exists and time.monotonic() < deadline:
        time.sleep(5)
    assert host.file("/var/lib/aide/aide.db").mode == 0o600


# --- toggles -----------------------------------------------------------------------------------------------


def test_disabled_toggles_leave_their_controls_untouched(hosts: dict[str, Any]) -> None:
    """Node 3 (storage) runs with pdn_os_banner/sysctl/auditd/fail2ban_enabled: false (see conftest)."""
    host = hosts["storage"]
    assert "Debian GNU/Linux 12" in host.file("/etc/issue").content_string
    assert "PERINGATAN" not in host.file("/etc/issue.net").content_string
    assert not host.file("/etc/sysctl.d/60-pdn-hardening.conf").exists
    assert not host.file("/etc/audit/rules.d/50-pdn.rules").exists
    assert not host.file("/etc/fail2ban/jail.local").exists
    # ...while the controls that stayed on are there.
    assert host.file("/etc/sysctl.d/70-pdn-kubernetes.conf").exists
    assert "pam_faillock.so preauth" in host.file("/etc/pam.d/common-auth").content_string
