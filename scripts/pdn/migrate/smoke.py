"""The runbook's verification step, run for real: a migrated app is up, got its configuration and
reads its own data; apps of other tenants cannot reach it.

Every check runs from *inside* the cluster: a short-lived probe pod (:mod:`pdn.migrate.probe`, Pod
Security ``restricted``) in the namespace whose traffic is being checked, so NetworkPolicy applies
to it as to the app's real clients. What the probe saw becomes the app's evidence
(``smoke/<app>.json``), which the wave's runbook shows.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from pdn import kube, naming
from pdn.errors import PdnError
from pdn.migrate.pods import LAB_IMAGE, container_security_context, pod_security_context
from pdn.migrate.workspace import atomic_write, inside
from pdn.safeload import load_yaml
from pdn.wait import wait_until

SMOKE = "smoke"  # folder of the evidence files in the workspace
PROBE_IMAGE = LAB_IMAGE
FIELD_MANAGER = "pdn-migrate-smoke"
POD_TIMEOUT = 180.0
REFUSED_GRACE = 30.0  # seconds a fresh Service may refuse connections (kube-proxy sync on a busy node)


@dataclass(frozen=True)
class AppService:
    """Where one rendered app answers: read back from its manifests."""

    app_id: str
    namespace: str
    name: str
    kind: str  # Deployment or StatefulSet
    replicas: int

    @property
    def url(self) -> str:
        return f"http://{self.name}.{self.namespace}.svc.cluster.local"


def read_service(folder: Path) -> AppService:
    """The Service and workload of the app rendered into ``folder`` (``manifests/<app>/``)."""
    service = load_yaml(folder / "service.yaml")
    workload = load_yaml(folder / "workload.yaml")
    if not isinstance(service, dict) or not isinstance(workload, dict):
        raise PdnError(f"{folder}: not a rendered app (service.yaml and workload.yaml)")
    labels = workload["metadata"].get("labels", {})
    return AppService(
        app_id=str(labels.get("pdn.go.id/legacy-app", folder.name)),
        namespace=service["metadata"]["namespace"],
        name=service["metadata"]["name"],
        kind=workload["kind"],
        replicas=int(workload["spec"].get("replicas", 1)),
    )


def _workload_path(app: AppService) -> str:
    plural = "deployments" if app.kind == "Deployment" else "statefulsets"
    return kube.path("apps/v1", plural, app.namespace, app.name)


def ready_replicas(client: kube.Kube, app: AppService) -> int:
    found = client.get(_workload_path(app))
    status = (found or {}).get("status", {})
    return int(status.get("readyReplicas", 0)) if status.get("updatedReplicas", 0) >= app.replicas else 0


def wait_ready(client: kube.Kube, app: AppService, timeout: float) -> float:
    """Wait until every replica is updated and Ready; return the seconds it took."""
    started = time.monotonic()
    wait_until(
        f"{app.kind} {app.namespace}/{app.name} ready ({app.replicas} replica(s))",
        lambda: ready_replicas(client, app),
        lambda ready: ready >= app.replicas,
        timeout=timeout,
        interval=1.0,
        describe=lambda ready: f"{ready}/{app.replicas} ready",
        hint=f"kubectl -n {app.namespace} describe pods -l app.kubernetes.io/name={app.name}",
    )
    return time.monotonic() - started


def probe_pod(
    namespace: str, name: str, urls: Sequence[str], timeout: float, image: str, retry_refused: float = 0.0
) -> dict[str, Any]:
    """A restricted, one-shot pod that GETs ``urls`` and logs one JSON document."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/managed-by": "pdn-migrate", "pdn.go.id/role": "smoke-probe"},
        },
        "spec": {
            "restartPolicy": "Never",
            "activeDeadlineSeconds": int(POD_TIMEOUT),
            "automountServiceAccountToken": False,
            "securityContext": pod_security_context(fs_group=False),
            "containers": [
                {
                    "name": "probe",
                    "image": image,
                    "imagePullPolicy": "Never",
                    "args": [
                        *("-m", "pdn.migrate.probe", "--timeout", str(timeout)),
                        *("--retry-refused", str(retry_refused), *urls),
                    ],
                    "resources": {
                        "requests": {"cpu": "10m", "memory": "32Mi"},
                        "limits": {"cpu": "200m", "memory": "96Mi"},
                    },
                    "securityContext": container_security_context(),
                }
            ],
        },
    }


def run_probe(
    client: kube.Kube,
    namespace: str,
    urls: Sequence[str],
    *,
    timeout: float = 5.0,
    retry_refused: float = 0.0,
    image: str = PROBE_IMAGE,
) -> list[dict[str, Any]]:
    """Run one probe pod in ``namespace``; return its result per URL (the pod is removed after)."""
    name = naming.resource_name(f"smoke-{time.time_ns():x}")
    pods = kube.path("v1", "pods", namespace)
    where = kube.path("v1", "pods", namespace, name)
    client.create(pods, probe_pod(namespace, name, urls, timeout, image, retry_refused))
    try:
        pod = wait_until(
            f"smoke probe {namespace}/{name}",
            lambda: client.get(where) or {},
            lambda pod: pod.get("status", {}).get("phase") in {"Succeeded", "Failed"},
            timeout=POD_TIMEOUT,
            interval=0.5,
            describe=lambda pod: str(pod.get("status", {}).get("phase")),
            hint=f"kubectl -n {namespace} describe pod {name}",
        )
        log = client.request("GET", f"{where}/log")
        if pod["status"]["phase"] != "Succeeded" or not isinstance(log, dict):
            raise PdnError(f"smoke probe {namespace}/{name} failed: {pod['status'].get('reason', '')} {log!r:.300}")
        results: list[dict[str, Any]] = log["results"]
        return results
    finally:
        client.delete(where, query={"gracePeriodSeconds": "0"})


@dataclass
class Evidence:
    """What the smoke check of one app saw."""

    app_id: str
    site: str
    namespace: str
    service: str
    ready_seconds: float
    healthy: bool
    config_ok: bool
    objects: int
    expected_objects: int
    sha256_checked: int
    sha256_matching: int
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems


def smoke_app(
    client: kube.Kube, site: str, app: AppService, expected: Mapping[str, str], ready_seconds: float
) -> Evidence:
    """Ask the app, through its Service, for its health, configuration, listing and every object's
    SHA-256; compare with ``expected`` (key -> SHA-256 of the source)."""
    keys = sorted(expected)
    urls = [
        f"{app.url}/healthz",
        f"{app.url}/config",
        f"{app.url}/data",
        *(f"{app.url}/data/sha256?key={quote(key, safe='')}" for key in keys),
    ]
    # A Service just made ready refuses until kube-proxy has synced its rules on the node.
    health, config, listing, *hashes = run_probe(client, app.namespace, urls, retry_refused=REFUSED_GRACE)
    evidence = Evidence(app.app_id, site, app.namespace, app.name, round(ready_seconds, 1),
                        health.get("status") == 200, False, 0, len(keys), len(keys), 0)  # fmt: skip
    if not evidence.healthy:
        evidence.problems.append(f"/healthz: {health.get('status') or health.get('error')}")
    body = config.get("body") if config.get("status") == 200 else None
    if isinstance(body, dict) and body.get("app_id") == app.app_id and body.get("site") == site:
        evidence.config_ok = True
    else:
        evidence.problems.append(f"/config: {config.get('status') or config.get('error')} {str(body)[:200]}")
    data = listing.get("body") if listing.get("status") == 200 else None
    evidence.objects = int(data.get("objects", 0)) if isinstance(data, dict) else 0
    if evidence.objects != len(keys):
        evidence.problems.append(f"/data lists {evidence.objects} objects, the source has {len(keys)}")
    for key, answer in zip(keys, hashes, strict=True):
        got = answer.get("body") if answer.get("status") == 200 else None
        if isinstance(got, dict) and got.get("sha256") == expected[key]:
            evidence.sha256_matching += 1
        else:
            evidence.problems.append(f"{key}: SHA-256 {str(got)[:120]} != source {expected[key][:12]}…")
    return evidence


def unreachable_from(client: kube.Kube, namespace: str, app: AppService) -> bool:
    """True when a pod in ``namespace`` gets no answer from ``app``'s Service (NetworkPolicy)."""
    (result,) = run_probe(client, namespace, [f"{app.url}/healthz"], timeout=3.0)
    return result.get("status") is None


def write_evidence(out: Path, evidence: Evidence) -> Path:
    path = inside(out, SMOKE, f"{naming.app_folder(evidence.app_id)}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps({**asdict(evidence), "passed": evidence.passed}, indent=2, sort_keys=True) + "\n")
    return path


def read_evidence(out: Path, app_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Evidence files of ``app_ids`` that exist (the runbook shows them)."""
    found: dict[str, dict[str, Any]] = {}
    for app_id in app_ids:
        path = out / SMOKE / f"{naming.app_folder(app_id)}.json"
        if path.is_file():
            document = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(document, dict):
                found[app_id] = document
    return found
