"""What each step of ``pdn up`` depends on, as digests (:mod:`pdn.converge` keeps the records).

A digest covers the step's own inputs (playbooks, stack program and config, the site model,
the inventory, the code that does the step) and the identity of what it acted on (the node
container and its packages, the site's cluster), so a re-created container or a purged lab is
a change even when no file is. Each function says what it covers; nothing here changes anything.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pdn import kube, paths
from pdn.converge import tree_digest, value_digest
from pdn.errors import PdnError
from pdn.nodes.runtime import Node

TENANT_LABEL = "pdn.go.id/tenant"


def _repo(*parts: str) -> Path:
    return paths.repo_root().joinpath(*parts)


def hardening_inputs() -> str:
    """Playbooks (roles, their defaults, group vars, waivers) and the templates they render."""
    return tree_digest(_repo("playbooks"), _repo("templates"))


def node_state(node: Node) -> dict[str, str]:
    """The node container's ID and a digest of its package database: a re-created container or a
    package installed or removed since is a changed node."""
    from pdn.nodes.podman import podman

    container = podman(["inspect", "--format", "{{.Id}}", node.name], timeout=60).stdout.strip()
    packages = podman(["exec", node.name, "sha256sum", "/var/lib/dpkg/status"], timeout=60).stdout.split()
    return {"container": container, "packages": packages[0] if packages else ""}


def harden_digest(node: Node, playbooks: str, state: Mapping[str, str]) -> str:
    """One node's hardening inputs: the playbooks' digest, its inventory entry and its state."""
    from pdn.nodes.inventory import inventory_data

    return value_digest({"playbooks": playbooks, "inventory": inventory_data([node]), "node": dict(state)})


def judging_inputs() -> str:
    """The code and waivers that judge a node (Lynis, ssh-audit, kube-bench)."""
    return tree_digest(_repo("scripts", "pdn", "harden"), _repo("playbooks", "vars"))


def report_digest(node: str, hardened: str | None, judge: str) -> str:
    """One node's hardening report: the node's hardening record (None: never hardened here) and
    the digest of what judges it (:func:`judging_inputs`)."""
    return value_digest({"node": node, "hardened": hardened, "judge": judge})


def plan_digest(out: Path, apps: int) -> str:
    """The migration plan: the inventory (when generated already), its size, the site model, the
    migration code and its data files (catalog, glossary, calendars)."""
    return value_digest(
        {
            "apps": apps,
            "inventory": tree_digest(out / "inventory"),
            "sites": tree_digest(paths.sites_file()),
            "code": tree_digest(_repo("scripts", "pdn", "migrate"), _repo("scripts", "pdn", "data")),
        }
    )


def plan_outputs(out: Path) -> str:
    """What the plan step writes and later steps read: the plan, the tenants, wave 1's manifests."""
    return tree_digest(out / "plan.csv", out / "tenants.yaml", out / "manifests")


def cluster_identity(site: str) -> str:
    """The UID of the site cluster's kube-system namespace: a new cluster (after ``lab down
    --purge``) has another one; an unreachable cluster has none."""
    try:
        found = kube.site(site).get("/api/v1/namespaces/kube-system")
    except PdnError:  # no kubeconfig yet, or the server does not answer
        return "unreachable"
    return str(((found or {}).get("metadata") or {}).get("uid", "missing"))


def tenant_namespaces(site: str) -> list[str]:
    """Names of the tenant namespaces the site's cluster holds now; one being deleted (a drill's,
    just cleaned up) no longer counts."""
    items = kube.site(site).list_items("/api/v1/namespaces", label_selector=TENANT_LABEL)
    return sorted(
        str(item["metadata"]["name"])
        for item in items
        if not item["metadata"].get("deletionTimestamp") and (item.get("status") or {}).get("phase") != "Terminating"
    )


def onboarded_tenants(site: str, incoming: Path | None) -> list[dict[str, Any]]:
    """The lab tenants of ``site`` once ``incoming`` is onboarded (the same merge ``pdn stacks up
    --tenants`` does), so the digest is equal before and after that run."""
    from pdn.stacks.workspace import LAB_TENANTS, read_tenants_file, tenant_key

    known_file = paths.lab_dir() / "stacks" / LAB_TENANTS
    known = read_tenants_file(known_file).get(site, []) if known_file.exists() else []
    extra = read_tenants_file(incoming).get(site, []) if incoming is not None and incoming.is_file() else []
    have = {tenant_key(entry) for entry in known}
    return [*known, *(entry for entry in extra if tenant_key(entry) not in have)]


def stack_digest(site: str, tenants: Path | None) -> str:
    """One site stack in the lab: the program, the project and stack files, the site model, the
    driving code and CRD pins, the lab's endpoints, the onboarded tenants and the cluster itself."""
    from pdn.lab import endpoints
    from pdn.stacks import crds
    from pdn.stacks.workspace import stack_file, stack_sites

    return value_digest(
        {
            "program": tree_digest(_repo("infra"), _repo("Pulumi.yaml"), stack_file(site), crds.pins_file()),
            "sites": tree_digest(paths.sites_file()),
            "code": tree_digest(_repo("scripts", "pdn", "stacks")),
            "endpoints": {other: endpoints.s3_endpoint(other) for other in stack_sites()},
            "cluster_endpoints": endpoints.cluster_s3_endpoints(site),
            "kubeconfig": str(endpoints.kubeconfig_path(site)),
            "tenants": onboarded_tenants(site, tenants),
            "cluster": cluster_identity(site),
        }
    )


def copy_digest(site: str, app_id: str, sources: Mapping[str, str], on_cluster: bool) -> str:
    """One app's copy: its legacy files (SHA-256 each), where it goes and how it runs."""
    from pdn.lab.endpoints import s3_endpoint

    return value_digest(
        {"site": site, "app": app_id, "files": dict(sources), "on_cluster": on_cluster, "to": s3_endpoint(site)}
    )


def golive_digest(site: str, folders: Sequence[Path], expected: Mapping[str, Mapping[str, str]]) -> str:
    """A site's wave-1 go-live: every app's manifests, the data its smoke check expects, the code."""
    return value_digest(
        {
            "site": site,
            "cluster": cluster_identity(site),
            "manifests": {folder.name: tree_digest(folder) for folder in folders},
            "expected": {folder.name: dict(expected.get(folder.name, {})) for folder in folders},
            "code": tree_digest(
                *(_repo("scripts", "pdn", "migrate", f"{m}.py") for m in ("golive", "smoke", "appcreds"))
            ),
        }
    )


def drill_digest(args: Sequence[str], sites: Sequence[str], stacks: Mapping[str, str | None]) -> str:
    """The drill: its arguments, the stacks of its two sites as last applied, both clusters and the
    backup code."""
    return value_digest(
        {
            "args": list(args),
            "stacks": {site: stacks.get(site) for site in sites},
            "clusters": {site: cluster_identity(site) for site in sites},
            "code": tree_digest(_repo("scripts", "pdn", "backup")),
        }
    )
