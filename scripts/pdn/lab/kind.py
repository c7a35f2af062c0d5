"""``--runtime kind``: the same sites as kind clusters, where Docker or podman and images exist.

This cannot run on the air-gapped build hosts (no node image can be pulled), so it stays small
and untested here: one kind cluster ``pdn-<site>`` per site, one worker per failure domain
labelled with the site's region and zone, its kubeconfig written where
:func:`pdn.lab.endpoints.kubeconfig_path` points. MinIO and the Pulumi backend still come from
the process runtime (``pdn lab up`` without ``--runtime``).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable

import yaml

from pdn.console import console
from pdn.errors import PdnError, ToolMissingError
from pdn.lab import endpoints
from pdn.lab.fake_nodes import REGION, ZONE
from pdn.lab.runtime import select_sites
from pdn.sites import Site, load_sites


def _kind() -> str:
    found = shutil.which("kind")
    if not found:
        raise ToolMissingError(
            "kind is not installed", hint="install kind and Docker or podman, or use the default runtime"
        )
    return found


def cluster_config(site: Site) -> str:
    """A kind cluster config: one control plane, one labelled worker per failure domain."""
    workers = [{"role": "worker", "labels": {REGION: site.id, ZONE: domain.zone}} for domain in site.failure_domains]
    config = {
        "kind": "Cluster",
        "apiVersion": "kind.x-k8s.io/v1alpha4",
        "name": f"pdn-{site.id}",
        "networking": {"apiServerAddress": "127.0.0.1"},
        "nodes": [{"role": "control-plane"}, *workers],
    }
    return yaml.safe_dump(config, sort_keys=False)


def _clusters(kind: str) -> set[str]:
    done = subprocess.run([kind, "get", "clusters"], capture_output=True, text=True, check=False)
    return set(done.stdout.split())


def up(site_ids: Iterable[str]) -> None:
    kind = _kind()
    existing = _clusters(kind)
    for site in select_sites(load_sites(), site_ids):
        name = f"pdn-{site.id}"
        kubeconfig = endpoints.kubeconfig_path(site.id)
        kubeconfig.parent.mkdir(parents=True, exist_ok=True)
        if name not in existing:
            done = subprocess.run(
                [kind, "create", "cluster", "--config", "-", "--kubeconfig", str(kubeconfig)],
                input=cluster_config(site),
                text=True,
                check=False,
            )
            if done.returncode != 0:
                raise PdnError(f"kind could not create {name}", hint="see the kind output above")
        console.print(f"[cyan]{site.id:<12}[/] kind cluster {name}; KUBECONFIG={kubeconfig}")


def down(site_ids: Iterable[str]) -> None:
    kind = _kind()
    existing = _clusters(kind)
    for site in select_sites(load_sites(), site_ids):
        if f"pdn-{site.id}" in existing:
            subprocess.run([kind, "delete", "cluster", "--name", f"pdn-{site.id}"], check=False)
