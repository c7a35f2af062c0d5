"""The one way PDN talks to Kubernetes: plain JSON objects over the ``kubernetes`` dynamic client.

Every area (lab boot, backup drill, ``pdn up`` and its summary, tests) reads and writes objects as
dictionaries through :class:`Kube`, built from a kubeconfig. Requests go through the dynamic
client's public ``request`` (paths such as ``/api/v1/nodes``), which every ``kubernetes`` release
the project allows keeps stable, while the generated ``ApiClient`` internals below it changed
(``param_serialize`` exists only in recent ones). Skipping the typed models keeps thousands of
objects fast, and API discovery is not needed for explicit paths, so none is done (no start-up
requests, no discovery cache file in /tmp).

Errors become :class:`KubeError`, a :class:`~pdn.errors.PdnError` with the HTTP status (``None``
when the server could not be reached) and one line naming the request and the server's message.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from pdn.errors import PdnError

#: Connections kept per client: the drill writes objects from up to this many threads.
POOL_SIZE = 32
DEFAULT_TIMEOUT = 30.0

Query = Mapping[str, str] | Sequence[tuple[str, str]]


class KubeError(PdnError):
    """A Kubernetes request failed: ``status`` is the HTTP status, ``None`` if nothing answered."""

    def __init__(self, message: str, *, status: int | None, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


def parse_time(value: str) -> datetime:
    """A Kubernetes timestamp (RFC 3339, ``2026-12-01T12:00:00Z``) as an aware datetime."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def path(api_version: str, plural: str, namespace: str | None = None, name: str | None = None) -> str:
    """The REST path of a collection or object: ``path("apps/v1", "deployments", "ns", "web")``."""
    prefix = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
    middle = f"/namespaces/{namespace}" if namespace else ""
    return f"{prefix}{middle}/{plural}" + (f"/{name}" if name else "")


class _NoDiscovery:
    """Stands in for the dynamic client's discoverer: explicit paths need no API discovery."""

    def __init__(self, client: Any, cache_file: str | None) -> None:
        del client, cache_file


class Kube:
    """JSON requests to the API server of one kubeconfig (its current context)."""

    def __init__(self, kubeconfig: Path, *, pool_size: int = POOL_SIZE, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.kubeconfig = kubeconfig
        self.pool_size = pool_size
        self.timeout = timeout
        self.server = "?"
        self._client: Any = None
        self._lock = threading.Lock()
        self._resources: dict[tuple[str, str], tuple[str, bool]] = {}

    def _dynamic(self) -> Any:
        """The dynamic client, made on first use (the kubeconfig may be written after ``Kube()``)."""
        with self._lock:
            if self._client is None:
                from kubernetes import client, config
                from kubernetes.dynamic import DynamicClient

                # Typed in recent releases, untyped in older ones: used as Any so both check alike.
                kubeconfig_loader: Any = config.load_kube_config
                dynamic_client: Any = DynamicClient
                configuration = client.Configuration()
                try:
                    kubeconfig_loader(config_file=str(self.kubeconfig), client_configuration=configuration)
                except (OSError, config.ConfigException) as error:
                    raise KubeError(f"kubeconfig {self.kubeconfig}: {error}", status=None) from None
                configuration.connection_pool_maxsize = self.pool_size
                configuration.retries = 1
                self.server = configuration.host
                self._client = dynamic_client(client.ApiClient(configuration), discoverer=_NoDiscovery)
            return self._client

    def request(
        self,
        method: str,
        where: str,
        body: Any = None,
        *,
        query: Query = (),
        content_type: str | None = None,
        timeout: float | None = None,
    ) -> Any:
        """One request; returns the decoded JSON reply (``None`` when empty). Raises :class:`KubeError`."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        dynamic = self._dynamic()
        pairs = list(query.items()) if isinstance(query, Mapping) else list(query)
        try:
            response = dynamic.request(
                method, where, body=body, query_params=pairs, serialize=False,
                _request_timeout=timeout or self.timeout, header_params={"Accept": "application/json"},
                content_type=content_type or "application/json",
            )  # fmt: skip
        except ApiException as error:
            message = _server_message(getattr(error, "body", None)) or str(error.reason)
            raise KubeError(
                f"{method.upper()} {where} on {self.server}: {error.status} {error.reason}: {message}"[:500],
                status=error.status, reason=str(error.reason),
            ) from None  # fmt: skip
        except (HTTPError, OSError) as error:
            first = (str(error).splitlines() or [type(error).__name__])[0][:200]
            raise KubeError(f"{method.upper()} {where}: {self.server} unreachable: {first}", status=None) from None
        data = response.data
        return json.loads(data) if data else None

    def get(self, where: str) -> dict[str, Any] | None:
        """The object at ``where``, or ``None`` when it does not exist."""
        try:
            found: dict[str, Any] = self.request("GET", where)
        except KubeError as error:
            if error.status == 404:
                return None
            raise
        return found

    def list_items(self, where: str, label_selector: str | None = None) -> list[dict[str, Any]]:
        """The items of the collection at ``where`` (optionally only those matching ``label_selector``)."""
        reply = self.request("GET", where, query={"labelSelector": label_selector} if label_selector else ())
        items: list[dict[str, Any]] = (reply or {}).get("items") or []
        return items

    def create(self, where: str, obj: Mapping[str, Any]) -> dict[str, Any] | None:
        """POST ``obj`` to the collection ``where``; the created object, or ``None`` when it existed (409)."""
        try:
            created: dict[str, Any] = self.request("POST", where, dict(obj))
        except KubeError as error:
            if error.status == 409:
                return None
            raise
        return created

    def merge_patch(self, where: str, patch: Mapping[str, Any]) -> dict[str, Any]:
        patched: dict[str, Any] = self.request("PATCH", where, dict(patch), content_type="application/merge-patch+json")
        return patched

    def delete(self, where: str, *, query: Query = ()) -> bool:
        """DELETE ``where`` (an object, or a collection with a ``labelSelector``); False if it did not exist."""
        try:
            self.request("DELETE", where, query=query)
        except KubeError as error:
            if error.status == 404:
                return False
            raise
        return True

    def resource(self, api_version: str, kind: str) -> tuple[str, bool]:
        """(plural, namespaced) of ``kind`` in ``api_version``, from the server's discovery of that
        group version (one request per group version, kept for the client's life)."""
        key = (api_version, kind)
        if key not in self._resources:
            listing = self.request("GET", f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}")
            for entry in (listing or {}).get("resources") or []:
                if "/" not in entry.get("name", "/"):  # subresources such as pods/log
                    self._resources[(api_version, entry["kind"])] = (entry["name"], bool(entry.get("namespaced")))
            if key not in self._resources:
                raise KubeError(f"{self.server} serves no {kind} in {api_version}", status=404)
        return self._resources[key]

    def object_path(self, obj: Mapping[str, Any]) -> str:
        """The REST path of ``obj`` (its ``apiVersion``, ``kind``, ``metadata.name`` and ``.namespace``)."""
        api_version, kind, meta = obj["apiVersion"], obj["kind"], obj["metadata"]
        plural, namespaced = self.resource(api_version, kind)
        if namespaced and not meta.get("namespace"):
            raise KubeError(f"{kind}/{meta['name']} has no metadata.namespace", status=None)
        return path(api_version, plural, meta.get("namespace") if namespaced else None, meta["name"])

    def apply(self, obj: Mapping[str, Any], *, field_manager: str, force: bool = False) -> dict[str, Any]:
        """Server-side apply of ``obj``, as ``kubectl apply --server-side`` does: the server merges it
        and records ``field_manager`` as the owner of its fields; a conflict fails unless ``force``."""
        query = {"fieldManager": field_manager, **({"force": "true"} if force else {})}
        applied: dict[str, Any] = self.request(
            "PATCH", self.object_path(obj), dict(obj), query=query, content_type="application/apply-patch+yaml"
        )  # the client sends the object as JSON, which is a YAML document (every allowed client version)
        return applied

    def reachable(self, timeout: float = 5) -> str | None:
        """``None`` when the API server answers ``/version``, else the reason."""
        try:
            self.request("GET", "/version", timeout=timeout)
        except KubeError as error:
            return str(error)
        return None


def _server_message(body: Any) -> str:
    """The ``message`` of a Kubernetes ``Status`` reply, else the first line of the body."""
    if not body:
        return ""
    text = body.decode(errors="replace") if isinstance(body, bytes) else str(body)
    try:
        return str(json.loads(text).get("message", ""))[:300]
    except (ValueError, AttributeError):
        return (text.splitlines() or [""])[0][:300]


def site(site_id: str) -> Kube:
    """The client of a lab site's cluster, as the lab admin (``pdn.lab.endpoints.kubeconfig_path``).

    One client per kubeconfig file as it is now: a lab rebuilt with new certificates gets a new one.
    """
    from pdn.lab.endpoints import kubeconfig_path

    kubeconfig = kubeconfig_path(site_id)
    try:
        stat = kubeconfig.stat()
    except OSError:
        return Kube(kubeconfig)  # not written yet: the first request says so
    return _client_for(kubeconfig, stat.st_ino, stat.st_mtime_ns)


@cache
def _client_for(kubeconfig: Path, inode: int, mtime_ns: int) -> Kube:
    del inode, mtime_ns  # part of the cache key only
    return Kube(kubeconfig)
