"""Fixtures of the real-nodes tests: one lab site whose two Debian node containers are real nodes.

The site gets its own lab state, ports, node names and network (``pdnkube``), so that it never
meets the developer's lab or the hardening tests' nodes. The host's global kernel settings are
read before anything starts; a test compares them once the nodes have run pods.

The site's stack (run by the tenant tests) keeps backups on its partners' object stores and its lab
workspace holds every site's S3 keys, so the labs ``pdn up`` would start for this site come up too
(control planes and MinIO, no nodes).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import pytest

SITE = "cikarang"
NAMESPACE = "pdnkube"
LAB_PORT_BASE = "25100"
NODES_PORT_BASE = "25500"
NODE_COUNT = 2


def host_kernel_settings() -> dict[str, str]:
    """Every readable host-global setting under /proc/sys (``net`` belongs to network namespaces)."""
    values: dict[str, str] = {}
    for path in sorted(Path("/proc/sys").rglob("*")):
        relative = path.relative_to("/proc/sys")
        if relative.parts[0] == "net" or not path.is_file():
            continue
        try:
            values[str(relative)] = path.read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            continue
    return values


#: Settings the kernel changes by itself while anything runs (counters, random values, clocks).
VOLATILE = ("kernel/random/", "fs/dentry-state", "fs/inode-", "fs/file-nr", "kernel/ns_last_pid", "fs/quota/",
            "kernel/pty/nr", "kernel/tainted", "vm/stat_refresh", "kernel/sched_domain", "fs/aio-nr",
            "kernel/keys/gc_delay", "kernel/cad_pid", "fs/binfmt_misc/", "kernel/usermodehelper/",
            "kernel/perf_event_max_sample_rate", "kernel/perf_cpu_time_max_percent", "fs/fscache/",
            "user/", "kernel/printk_ratelimit_burst", "debug/")  # fmt: skip


def stable(settings: dict[str, str]) -> dict[str, str]:
    return {key: value for key, value in settings.items() if not key.startswith(VOLATILE)}


@dataclass
class RealSite:
    site: str
    kubeconfig: Path
    nodes: list[str]
    host_before: dict[str, str]

    def host_now(self) -> dict[str, str]:
        """The host's stable kernel settings as they are now (compare with ``host_before``)."""
        return stable(host_kernel_settings())

    def kubectl(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        from pdn.toolchain import resolve

        done = subprocess.run(
            [str(resolve("kubectl")), "--kubeconfig", str(self.kubeconfig), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {done.stderr.strip()}")
        return done


@pytest.fixture(scope="session")
def real_site(own_lab: Callable[[str, str, str], AbstractContextManager[None]]) -> Iterator[RealSite]:
    with own_lab(NAMESPACE, LAB_PORT_BASE, NODES_PORT_BASE):
        from pdn.lab import layout, runtime
        from pdn.lab.nodes_bridge import start_node_containers, stop_node_containers
        from pdn.up import plan_sites

        lab_sites = plan_sites([SITE]).lab
        before = host_kernel_settings()
        stop_node_containers(SITE)
        try:
            runtime.up(lab_sites)
            start_node_containers(SITE, NODE_COUNT, real=True)
            from pdn.nodes import list_nodes

            names = [node.name for node in list_nodes(SITE)]
            yield RealSite(SITE, layout.kubeconfig_dir(SITE) / "admin.yaml", names, stable(before))
        finally:
            if not os.environ.get("PDN_KEEP_NODES"):
                stop_node_containers(SITE)
                runtime.down(lab_sites, purge=True)
