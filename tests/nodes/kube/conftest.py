"""Fixtures of the real-nodes tests: one lab site whose two Debian node containers are real nodes.

The site gets its own lab state, ports, node names and network (``pdnkube``), so that it never
meets the developer's lab or the hardening tests' nodes. The host's global kernel settings are
read before anything starts; a test compares them once the nodes have run pods.

Real nodes are opt-in while their toolchain units are optional (issue 14 is not finished): these
tests run with ``PDN_REAL_NODES=1`` after ``pdn toolchain build --all``.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest
from kube_realsite import RealSite, host_kernel_settings

SITE = "cikarang"
NAMESPACE = "pdnkube"
LAB_PORT_BASE = "25100"
NODES_PORT_BASE = "25500"
NODE_COUNT = 2


@pytest.fixture(scope="session")
def real_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealSite]:
    if os.environ.get("PDN_REAL_NODES") != "1":
        pytest.skip("real nodes are opt-in: PDN_REAL_NODES=1 after pdn toolchain build --all")
    for tool in ("podman", "socat"):
        if subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True, check=False).returncode:
            pytest.skip(f"{tool} is not installed")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PDN_LAB_DIR", str(tmp_path_factory.mktemp("lab")))
        env.setenv("PDN_LAB_PORT_BASE", LAB_PORT_BASE)
        env.setenv("PDN_NODES_NAMESPACE", NAMESPACE)
        env.setenv("PDN_NODES_PORT_BASE", NODES_PORT_BASE)
        from pdn.lab import layout, runtime
        from pdn.lab.nodes_bridge import start_node_containers, stop_node_containers

        before = host_kernel_settings()
        stop_node_containers(SITE)
        try:
            runtime.up([SITE])
            start_node_containers(SITE, NODE_COUNT, real=True)
            from pdn.nodes import list_nodes

            names = [node.name for node in list_nodes(SITE)]
            yield RealSite(SITE, layout.kubeconfig_dir(SITE) / "admin.yaml", names, before)
        finally:
            if not os.environ.get("PDN_KEEP_NODES"):
                stop_node_containers(SITE)
                runtime.down([SITE], purge=True)
