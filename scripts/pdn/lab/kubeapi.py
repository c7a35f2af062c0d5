"""A minimal client for the lab's own API servers (admin certificate, loopback only).

The lab needs a handful of calls while it boots (create nodes, count ready ones); plain HTTPS
keeps ``pdn lab up`` quick. Tests and other areas use the ``kubernetes`` client with
:func:`pdn.lab.endpoints.kubeconfig_path`.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from typing import Any

from pdn.errors import PdnError
from pdn.lab import layout


class KubeApi:
    """JSON requests to one site's kube-apiserver as the lab admin."""

    def __init__(self, site_id: str) -> None:
        pki = layout.pki_dir(site_id)
        self.base = f"https://127.0.0.1:{layout.port(site_id, 'kube-apiserver')}"
        self.context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        self.context.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))

    def request(
        self, method: str, path: str, body: Any = None, content_type: str = "application/json"
    ) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(request, timeout=10, context=self.context) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            payload = error.read()
            try:
                return error.code, json.loads(payload or b"null")
            except ValueError:
                return error.code, payload.decode(errors="replace")
        except (urllib.error.URLError, OSError) as error:
            raise PdnError(f"{self.base}{path}: {error}") from None

    def apply_node(self, node: dict[str, Any]) -> str:
        """Create the node, or merge its labels into an existing one; returns created|updated."""
        code, reply = self.request("POST", "/api/v1/nodes", node)
        if code == 201:
            return "created"
        if code != 409:
            raise PdnError(f"creating node {node['metadata']['name']} failed ({code}): {reply}")
        patch = {"metadata": {"labels": node["metadata"]["labels"], "annotations": node["metadata"]["annotations"]}}
        path = f"/api/v1/nodes/{node['metadata']['name']}"
        code, reply = self.request("PATCH", path, patch, "application/merge-patch+json")
        if code != 200:
            raise PdnError(f"updating node {node['metadata']['name']} failed ({code}): {reply}")
        return "updated"

    def node_labels(self) -> dict[str, dict[str, str]]:
        """name -> labels and annotations (merged) of every node."""
        code, reply = self.request("GET", "/api/v1/nodes")
        if code != 200 or not isinstance(reply, dict):
            raise PdnError(f"listing nodes failed ({code}): {reply}")
        return {
            item["metadata"]["name"]: {
                **(item["metadata"].get("labels") or {}),
                **(item["metadata"].get("annotations") or {}),
            }
            for item in reply.get("items") or []
        }

    def converge_nodes(self, nodes: list[dict[str, Any]]) -> int:
        """Create missing nodes and fix drifted labels; returns how many needed a change."""
        current = self.node_labels()
        changed = 0
        for node in nodes:
            meta = node["metadata"]
            wanted = {**meta["labels"], **meta["annotations"]}
            have = current.get(meta["name"])
            if have is None or not wanted.items() <= have.items():
                self.apply_node(node)
                changed += 1
        return changed

    def ready_nodes(self) -> tuple[int, int]:
        """(ready, total) nodes."""
        code, reply = self.request("GET", "/api/v1/nodes")
        if code != 200 or not isinstance(reply, dict):
            return 0, 0
        items = reply.get("items") or []
        ready = sum(
            1
            for item in items
            for condition in (item.get("status") or {}).get("conditions") or []
            if condition.get("type") == "Ready" and condition.get("status") == "True"
        )
        return ready, len(items)
