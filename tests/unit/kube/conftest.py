"""A small HTTP server that answers like a Kubernetes API server, on 127.0.0.1, for the wrapper's
unit tests: the real ``kubernetes`` client and urllib3 talk to it over a socket, so what is tested
is the request that goes out and how replies and errors come back. The lab tier runs the same
wrapper against a real kube-apiserver (tests/lab/lab/test_kube_wrapper.py)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import yaml

TOKEN = "unit-test-token"
DISCOVERY = {
    "/api/v1": [("namespaces", "Namespace", False), ("configmaps", "ConfigMap", True), ("nodes", "Node", False),
                ("pods/log", "Pod", True)],
    "/apis/apps/v1": [("deployments", "Deployment", True)],
}  # fmt: skip


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    content_type: str
    authorization: str
    body: Any


@dataclass
class FakeApi:
    url: str
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    fail: dict[str, tuple[int, str]] = field(default_factory=dict)  # path -> (status, message)
    token: str = TOKEN
    #: What the server stores for a POST (path, body) -> object; e.g. a status its controllers would set.
    on_create: Callable[[str, dict[str, Any]], dict[str, Any]] = lambda _path, body: body

    def kubeconfig(self, folder: Path, server: str | None = None) -> Path:
        path = folder / "kubeconfig.yaml"
        path.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "unit",
            "clusters": [{"name": "unit", "cluster": {"server": server or self.url}}],
            "users": [{"name": "unit", "user": {"token": TOKEN}}],
            "contexts": [{"name": "unit", "context": {"cluster": "unit", "user": "unit"}}],
        }))  # fmt: skip
        return path


def _matches(obj: dict[str, Any], selector: str | None) -> bool:
    if not selector:
        return True
    labels = obj.get("metadata", {}).get("labels") or {}
    for term in selector.split(","):
        key, _, value = term.partition("=")
        if key not in labels or (value and labels[key] != value):
            return False
    return True


def _handler(api: FakeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _reply(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _status(self, code: int, message: str) -> None:
            self._reply(code, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message,
                               "code": code})  # fmt: skip

        def _handle(self) -> None:
            parts = urlsplit(self.path)
            where, query = parts.path, dict(parse_qsl(parts.query))
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            api.seen.append(Seen(self.command, where, query, self.headers.get("Content-Type", ""),
                                 self.headers.get("Authorization", ""), body))  # fmt: skip
            if where in api.fail:
                self._status(*api.fail[where])
                return
            if where == "/version":
                self._reply(200, {"major": "1", "minor": "34", "gitVersion": "v1.34.4"})
                return
            if where in DISCOVERY and self.command == "GET":
                resources = [{"name": n, "kind": k, "namespaced": ns} for n, k, ns in DISCOVERY[where]]
                self._reply(200, {"kind": "APIResourceList", "groupVersion": where.split("/", 2)[-1],
                                  "resources": resources})  # fmt: skip
                return
            children = {p: o for p, o in api.objects.items() if p.rsplit("/", 1)[0] == where}
            if self.command == "GET":
                if where in api.objects:
                    self._reply(200, api.objects[where])
                elif children or where.endswith("s"):
                    items = [o for o in children.values() if _matches(o, query.get("labelSelector"))]
                    self._reply(200, {"kind": "List", "items": items})
                else:
                    self._status(404, f"{where} not found")
            elif self.command == "POST":
                target = f"{where}/{body['metadata']['name']}"
                if target in api.objects:
                    self._status(409, f"{body['metadata']['name']} already exists")
                else:
                    api.objects[target] = api.on_create(target, body)
                    self._reply(201, api.objects[target])
            elif self.command == "PATCH":
                current = api.objects.get(where)
                if current is None and not self.headers.get("Content-Type", "").startswith("application/apply"):
                    self._status(404, f"{where} not found")
                    return
                merged = {**(current or {}), **body, "metadata": {**(current or {}).get("metadata", {}),
                                                                    **body.get("metadata", {})}}  # fmt: skip
                api.objects[where] = merged
                self._reply(200, merged)
            elif self.command == "DELETE":
                if where in api.objects:
                    self._reply(200, api.objects.pop(where))
                elif children:
                    for path, obj in children.items():
                        if _matches(obj, query.get("labelSelector")):
                            api.objects.pop(path)
                    self._reply(200, {"kind": "Status", "status": "Success"})
                else:
                    self._status(404, f"{where} not found")

        do_GET = do_POST = do_PATCH = do_DELETE = _handle

    return Handler


@pytest.fixture
def fake_api() -> Iterator[FakeApi]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(FakeApi("")))
    api = FakeApi(f"http://127.0.0.1:{server.server_address[1]}")
    server.RequestHandlerClass = _handler(api)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
