"""Fixtures of the Cluster API tests: a site stack whose cluster Cluster API makes, on real machines.

One lab of its own (state, ports, node names: ``pdncapi``): the management site (cikarang) with one
real node, so that its site network exists for the managers, and the labs the workload site's
stack needs (its partners' object stores). The managers run on cikarang's cluster; ikn's stack
then creates its Cluster there and Cluster API's Docker provider makes the machines: containers
of the real-node image on the ``kind`` network. The stack is destroyed at the end (asserted by
the last test) and everything else goes with the lab.

The site model is a copy of ``stacks/sites.yaml`` (``PDN_SITES``) whose workload site starts at
the previous Kubernetes patch release (toolchain unit ``kubernetes-previous``) with one worker in its
first pool; the tests scale that pool and then move the site to the model's own release by writing
a new copy and re-running the stack, as an operator edits the site model.
"""

from __future__ import annotations

import base64
import os
import subprocess
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

MANAGEMENT = "cikarang"
WORKLOAD = "ikn"
NAMESPACE = "pdncapi"
LAB_PORT_BASE = "26100"
NODES_PORT_BASE = "26500"


@dataclass
class CapiLab:
    """The lab with its management plane, and ikn's stack applied."""

    workspace: object
    kubeconfig_dir: Path
    models_dir: Path
    management: str = MANAGEMENT
    workload: str = WORKLOAD
    outcomes: dict[str, object] = field(default_factory=dict)
    replicas: int = 1
    version: str = field(default_factory=lambda: previous_release())
    upgrade_from: tuple[str, ...] = ()

    def kubectl(self, *args: str, workload: bool = False, timeout: float = 120) -> str:
        from pdn.lab import endpoints
        from pdn.toolchain import resolve

        config = self.workload_kubeconfig() if workload else endpoints.kubeconfig_path(MANAGEMENT)
        done = subprocess.run(
            [str(resolve("kubectl")), "--kubeconfig", str(config), *args],
            capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout

    def scale_first_pool(self, replicas: int) -> None:
        """Write a site model whose workload site has ``replicas`` workers in its first pool, point
        ``PDN_SITES`` at it and rewrite the lab's stack files from it (the next run applies it)."""
        self.replicas = replicas
        self._write_model()

    def move_to_release(self, version: str) -> None:
        """The same for the workload site moving to Kubernetes ``version`` from the one it runs."""
        self.version, self.upgrade_from = version, (self.version,)
        self._write_model()

    def _write_model(self) -> None:
        from pdn.stacks import crds
        from pdn.stacks.workspace import lab_workspace

        os.environ["PDN_SITES"] = str(write_model(self.models_dir, self.replicas, self.version, self.upgrade_from))
        self.workspace = lab_workspace([WORKLOAD], crds.fetch())

    def workload_kubeconfig(self) -> Path:
        """The workload cluster's kubeconfig, from the Secret Cluster API keeps beside the Cluster."""
        path = self.kubeconfig_dir / "workload.yaml"
        if not path.is_file():
            data = self.kubectl("-n", f"pdn-cluster-{WORKLOAD}", "get", "secret", f"{WORKLOAD}-kubeconfig",
                                "-o", "jsonpath={.data.value}")  # fmt: skip
            path.write_bytes(base64.b64decode(data))
            path.chmod(0o600)
        return path


def previous_release() -> str:
    """The release the workload site starts at (the site model's is the one it moves to)."""
    from pdn.toolchain.lock import load_lock

    return load_lock().units["kubernetes-previous"].version


def write_model(folder: Path, replicas: int, version: str, upgrade_from: tuple[str, ...] = ()) -> Path:
    from pdn.sites.resize import resized_model

    return resized_model(folder, WORKLOAD, replicas, version=version, upgrade_from=upgrade_from)


@pytest.fixture(scope="session")
def capi_lab(
    own_lab: Callable[[str, str, str], AbstractContextManager[None]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CapiLab]:
    models = tmp_path_factory.mktemp("site-models")
    with own_lab(NAMESPACE, LAB_PORT_BASE, NODES_PORT_BASE), pytest.MonkeyPatch.context() as env:
        env.setenv("PDN_SITES", str(write_model(models, 1, previous_release())))
        from pdn.capi import management
        from pdn.lab import runtime
        from pdn.lab.nodes_bridge import start_node_containers, stop_node_containers
        from pdn.stacks import crds
        from pdn.stacks.workspace import lab_workspace
        from pdn.up import plan_sites

        lab_sites = sorted({MANAGEMENT, *plan_sites([WORKLOAD]).lab})
        try:
            runtime.up(lab_sites)
            start_node_containers(MANAGEMENT, 1, real=True)
            management.up(MANAGEMENT, WORKLOAD)
            workspace = lab_workspace([WORKLOAD], crds.fetch())
            yield CapiLab(workspace, tmp_path_factory.mktemp("kubeconfigs"), models)
        finally:
            if not os.environ.get("PDN_KEEP_NODES"):
                management.down(MANAGEMENT, purge=True)
                stop_node_containers(MANAGEMENT)
                runtime.down(lab_sites, purge=True)
