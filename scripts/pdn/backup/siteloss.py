"""The site-loss drill's outage: stop a lab site entirely, later bring it back, and prove that
nothing was lost on either side.

"Entirely" means what a lost data centre takes with it: its Velero server, its control plane, its
object store and its nodes (``pdn lab down --site S``: real nodes are stopped, not removed, so the
return is a restart, as after a power cut). While it is down the partner must work from its own
copies only: the drill checks the site's API server and MinIO no longer answer before it restores.
The lab commands run as child processes, exactly as an operator would run them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pdn.backup import kube, store, velero
from pdn.backup.compare import Comparison, compare_namespaces
from pdn.child import run_pdn
from pdn.kube import KubeError
from pdn.lab import endpoints
from pdn.wait import wait_until

VITAL = "vital"
DOWN_TIMEOUT = 60.0


def vital_namespaces(site_id: str) -> list[str]:
    """The site's vital-tier tenant namespaces (what a site loss must recover first)."""
    selector = f"pdn.go.id/tenant,pdn.go.id/site={site_id},pdn.go.id/tier={VITAL}"
    return sorted(item["metadata"]["name"] for item in kube.list_items(site_id, "/api/v1/namespaces", selector))


def own_tenant_namespaces(site_id: str) -> list[str]:
    selector = f"pdn.go.id/tenant,pdn.go.id/site={site_id}"
    return sorted(item["metadata"]["name"] for item in kube.list_items(site_id, "/api/v1/namespaces", selector))


def snapshot(site_id: str, namespaces: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """Every compared object of each namespace, and the namespace itself."""
    taken: dict[str, list[dict[str, Any]]] = {}
    for name in namespaces:
        objects = kube.namespace_objects(site_id, name)
        meta = kube.namespace(site_id, name)
        if meta is not None:
            objects.append(meta)
        taken[name] = objects
    return taken


def unchanged(before: dict[str, list[dict[str, Any]]], after: dict[str, list[dict[str, Any]]]) -> Comparison:
    """``before`` against ``after``, namespace by namespace (missing namespaces count as missing objects)."""
    return compare_namespaces([(name, objects, after.get(name, [])) for name, objects in sorted(before.items())])


@dataclass(frozen=True)
class Outage:
    site: str
    real_nodes: int


def _unreachable(site_id: str) -> bool:
    api_down = kube.reachable(site_id) is not None
    try:
        store.client(site_id).list_buckets()
        store_down = False
    except Exception:
        store_down = True
    return api_down and store_down


def lose(site_id: str, say: Callable[[str], None]) -> Outage:
    """Stop the site's Velero server, control plane, object store and nodes; wait until neither its
    API server nor its MinIO answers."""
    from pdn.nodes.runtime import real_nodes

    nodes = len(real_nodes([site_id]))
    velero.stop_server(site_id)
    run_pdn("lab", "down", "--site", site_id, quiet=True)
    wait_until(
        f"{site_id}'s API server ({endpoints.kube_server(site_id)}) and object store to stop answering",
        lambda: _unreachable(site_id), bool, timeout=DOWN_TIMEOUT, interval=1.0,
    )  # fmt: skip
    say(f"{site_id} is down: API server, object store, Velero and {nodes} node(s) stopped")
    return Outage(site_id, nodes)


def bring_back(outage: Outage, say: Callable[[str], None]) -> None:
    """``pdn lab up`` the site with its nodes, then its Velero server (schedules carry on)."""
    args = ["lab", "up", "--site", outage.site]
    if outage.real_nodes:
        args += ["--real-nodes", str(outage.real_nodes)]
    run_pdn(*args, quiet=True)
    velero.ensure_server(outage.site)
    say(f"{outage.site} is back: API server, object store, {outage.real_nodes} node(s) and Velero")


def snapshot_after_return(site_id: str, namespaces: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """:func:`snapshot` of a site that just came back; a refused connection in its first seconds
    (seen once right after a restart) is tried again."""
    names = list(namespaces)
    return wait_until(
        f"{site_id}'s API server to answer after its return", lambda: snapshot(site_id, names), lambda _s: True,
        timeout=60.0, interval=2.0, retry_on=(KubeError,), describe=lambda _s: "no answer",
    )  # fmt: skip
