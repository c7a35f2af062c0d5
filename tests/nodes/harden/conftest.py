"""Fixtures of the nodes tier: fresh Debian 12 node containers, hardened for real over SSH.

One session starts three nodes of cikarang (control-plane, worker, storage) in their own
namespace (``pdntest``, ports 24xxx) so that a ``pdn lab down`` elsewhere never removes them.
Before hardening, node 1 gets a kubelet configuration, a swap line and a foreign nftables table
(standing in for kube-proxy); node 3 gets some toggles switched off. Then the playbook runs in
check mode on the fresh nodes (each node's state is taken before and after: it must not change),
once for real, and the idempotence run and the check-mode run on hardened nodes follow side by side.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

NAMESPACE = "pdntest"
PORT_BASE = "24000"
SITE = "cikarang"
#: Toggles switched off on node 3: their controls must stay untouched.
DISABLED_ON_NODE3 = {
    "pdn_os_banner_enabled": False,
    "pdn_os_sysctl_enabled": False,
    "pdn_os_auditd_enabled": False,
    "pdn_os_fail2ban_enabled": False,
}
KUBELET_CONFIG = {
    "apiVersion": "kubelet.config.k8s.io/v1beta1",
    "kind": "KubeletConfiguration",
    "readOnlyPort": 10255,
    "clusterDNS": ["10.96.0.10"],
    "authentication": {"anonymous": {"enabled": True}, "webhook": {"enabled": False}},
    "authorization": {"mode": "AlwaysAllow"},
}


@dataclass
class Hardened:
    nodes: list[Any]
    inventory: Path
    ssh_config: Path
    first: Any
    second: Any
    check: Any
    tmp: Path
    fresh_check: Any = None  # check mode on the fresh nodes, before the first real run
    fresh_before: dict[str, dict[str, str]] = field(default_factory=dict)  # node -> section -> state
    fresh_after: dict[str, dict[str, str]] = field(default_factory=dict)

    def state(self, name: str) -> dict[str, str]:
        """The node's state now (:func:`node_state`)."""
        return node_state(name)


# What a node's configuration is made of, section by section: a check-mode run must leave every
# section as it was. Files under /etc by content and by mode/owner, packages, unit files and their
# state, set-id programs, cron tables, the firewall ruleset, kernel modules' blacklist in effect.
STATE_SECTIONS = {
    "etc-content": "find /etc -xdev -type f -print0 | sort -z | xargs -0 -r sha256sum",
    "etc-modes": "find /etc -xdev -printf '%p %m %u %g %y %l\\n' | sort",
    "packages": "dpkg-query -W -f '${Package} ${Version} ${db:Status-Abbrev}\\n'",
    "units": "systemctl list-unit-files --no-legend --no-pager 2>/dev/null | sort || true",
    "setid": "find / -xdev -perm /6000 -type f -printf '%p %m\\n' 2>/dev/null | sort",
    "cron": "find /var/spool/cron -printf '%p %m %u\\n' 2>/dev/null | sort",
    "nftables": "nft list ruleset 2>/dev/null || true",
    "users": "getent passwd; getent group; getent shadow | cut -d: -f1,2 | sha256sum",
}


def node_state(name: str) -> dict[str, str]:
    """Every :data:`STATE_SECTIONS` of one node container, as text."""
    state = {}
    for section, script in STATE_SECTIONS.items():
        done = subprocess.run(["podman", "exec", name, "sh", "-c", script], capture_output=True, text=True, check=True)
        state[section] = done.stdout
    return state


def _sh(name: str, script: str) -> None:
    subprocess.run(["podman", "exec", name, "sh", "-c", script], check=True, capture_output=True)


@pytest.fixture(scope="session")
def hardened(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hardened]:
    for tool in ("podman", "debootstrap"):
        if shutil.which(tool) is None and shutil.which(tool, path="/usr/sbin") is None:
            pytest.skip(f"{tool} is not installed (apt-get install podman debootstrap)")
    with pytest.MonkeyPatch.context() as env:  # the tier's own names and ports, restored afterwards
        env.setenv("PDN_NODES_NAMESPACE", NAMESPACE)
        env.setenv("PDN_NODES_PORT_BASE", PORT_BASE)
        from pdn.harden.runner import run_playbook
        from pdn.nodes import list_nodes, start_nodes, stop_nodes
        from pdn.nodes.inventory import inventory_data
        from pdn.nodes.runtime import known_hosts_path, ssh_key_path

        tmp = tmp_path_factory.mktemp("harden")
        stop_nodes()
        try:
            nodes = start_nodes(SITE, 3)
            one, three = nodes[0].name, nodes[2].name
            kubelet = yaml.safe_dump(KUBELET_CONFIG)
            _sh(
                one,
                f"mkdir -p /var/lib/kubelet && cat > /var/lib/kubelet/config.yaml <<'EOF'\n{kubelet}EOF\n"
                "chmod 0644 /var/lib/kubelet/config.yaml && echo '/swapfile none swap sw 0 0' >> /etc/fstab && "
                "nft add table ip pdn_kube_proxy_sim && nft add chain ip pdn_kube_proxy_sim KUBE-SERVICES",
            )
            data = inventory_data(list_nodes())
            data["all"]["children"]["site_cikarang"]["hosts"][three].update(DISABLED_ON_NODE3)
            inventory = tmp / "inventory.yml"
            inventory.write_text(yaml.safe_dump(data))
            ssh_config = tmp / "ssh_config"
            ssh_config.write_text("".join(
                f"Host {n.name}\n  HostName {n.host}\n  Port {n.port}\n  User {n.user}\n"
                f"  IdentityFile {ssh_key_path()}\n"
                f"  IdentitiesOnly yes\n  UserKnownHostsFile {known_hosts_path()}\n  StrictHostKeyChecking yes\n"
                f"  BatchMode yes\n  ControlMaster auto\n  ControlPath /tmp/pdntest-%C\n  ControlPersist 120\n"
                for n in nodes
            ))  # fmt: skip
            fresh_before = {node.name: node_state(node.name) for node in nodes}
            fresh_check = run_playbook(inventory, check=True, label="test-check-fresh", quiet=True)
            fresh_after = {node.name: node_state(node.name) for node in nodes}
            first = run_playbook(inventory, label="test-first", quiet=True)
            assert first.ok, f"first run failed, see {first.log}"
            with ThreadPoolExecutor(max_workers=2) as pool:
                second_f = pool.submit(run_playbook, inventory, label="test-second", quiet=True)
                check_f = pool.submit(run_playbook, inventory, check=True, label="test-check", quiet=True)
                second, check = second_f.result(), check_f.result()
            yield Hardened(
                nodes, inventory, ssh_config, first, second, check, tmp, fresh_check, fresh_before, fresh_after
            )
        finally:
            if not os.environ.get("PDN_KEEP_NODES"):
                stop_nodes()


@pytest.fixture(scope="session")
def hosts(hardened: Hardened) -> dict[str, Any]:
    """testinfra hosts by role name (control-plane, worker, storage), with sudo."""
    import testinfra

    return {
        node.role: testinfra.get_host(f"ssh://{node.name}", ssh_config=str(hardened.ssh_config), sudo=True)
        for node in hardened.nodes
    }
