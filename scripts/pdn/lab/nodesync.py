"""Put a site's kwok nodes into its API server and count the Ready ones (through :mod:`pdn.kube`)."""

from __future__ import annotations

from typing import Any

from pdn.kube import Kube
from pdn.lab.fake_nodes import KWOK_ANNOTATION

NODES = "/api/v1/nodes"


def node_labels(kube: Kube) -> dict[str, dict[str, str]]:
    """name -> labels and annotations (merged) of every node."""
    return {
        item["metadata"]["name"]: {
            **(item["metadata"].get("labels") or {}),
            **(item["metadata"].get("annotations") or {}),
        }
        for item in kube.list_items(NODES)
    }


def apply_node(kube: Kube, node: dict[str, Any]) -> str:
    """Create the node, or merge its labels and annotations into an existing one; returns created|updated."""
    if kube.create(NODES, node) is not None:
        return "created"
    meta = node["metadata"]
    kube.merge_patch(
        f"{NODES}/{meta['name']}", {"metadata": {"labels": meta["labels"], "annotations": meta["annotations"]}}
    )
    return "updated"


def converge_nodes(kube: Kube, nodes: list[dict[str, Any]]) -> int:
    """Create missing nodes and fix drifted labels; returns how many needed a change."""
    current = node_labels(kube)
    changed = 0
    for node in nodes:
        meta = node["metadata"]
        have = current.get(meta["name"])
        if have is None or not {**meta["labels"], **meta["annotations"]}.items() <= have.items():
            apply_node(kube, node)
            changed += 1
    return changed


def ready_nodes(kube: Kube) -> tuple[int, int]:
    """(ready, total) of kwok's fake nodes; real nodes that joined the cluster are not counted."""
    items = [
        item for item in kube.list_items(NODES)
        if (item["metadata"].get("annotations") or {}).get(KWOK_ANNOTATION) == "fake"
    ]  # fmt: skip
    ready = sum(
        1
        for item in items
        for condition in (item.get("status") or {}).get("conditions") or []
        if condition.get("type") == "Ready" and condition.get("status") == "True"
    )
    return ready, len(items)
