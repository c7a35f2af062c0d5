"""Running apps for the drill: stand-ins with a volume full of files, and the check that they answer.

A drill app is the migration's stand-in (:mod:`pdn.migrate.standin`, ``PDN_STORAGE=volume``) with
its own PersistentVolumeClaim (the site's default StorageClass: local-path on real nodes), a
Service and a NetworkPolicy that lets pods of its own namespace reach it. A one-shot Job fills the
volume with random files (:mod:`pdn.backup.volfiles`) and is deleted once done, so that the
backup holds the app and its data but nothing that would write again after a restore.

The smoke check asks every app, through its Service from a probe pod in its namespace
(:func:`pdn.migrate.smoke.run_probe`), for ``/healthz``, ``/readyz`` and ``/volume`` (every
file's SHA-256, one digest over all). The same check runs on the source and on the restored
namespace; the two answers must be equal.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pdn import kube
from pdn.backup.seed import DRILL_LABEL
from pdn.errors import PdnError
from pdn.migrate.pods import LAB_IMAGE, container_security_context, pod_security_context
from pdn.migrate.smoke import REFUSED_GRACE, run_probe
from pdn.wait import wait_until

FIELD_MANAGER = "pdn-backup-drill"
APP_LABEL = "app.kubernetes.io/name"
ROLE_LABEL = DRILL_LABEL  # the drill's clean-up removes what carries it
READY_TIMEOUT = 600.0
SEED_TIMEOUT = 1800.0
VOLUME_TIMEOUT = 120.0  # seconds one /volume answer may take (it hashes every file)
PORT = 8080
#: Velero backs up every pod volume with defaultVolumesToFsBackup; the scratch folder is not data.
EXCLUDE_ANNOTATION = {"backup.velero.io/backup-volumes-excludes": "tmp"}


@dataclass(frozen=True)
class DrillApp:
    """One app the drill checks: its Deployment and Service (same name) in ``namespace``."""

    namespace: str
    name: str
    volume_only: bool = True  # keeps its data on its volume (PDN_STORAGE=volume), not in an object store

    @property
    def url(self) -> str:
        return f"http://{self.name}.{self.namespace}.svc.cluster.local"


def app_names(count: int) -> list[str]:
    return [f"drill-app-{index:02d}" for index in range(1, count + 1)]


def _labels(name: str, run_id: str) -> dict[str, str]:
    return {APP_LABEL: name, ROLE_LABEL: run_id, "app.kubernetes.io/managed-by": "pdn-backup-drill"}


def _resources(cpu: str, memory: str, cpu_limit: str, memory_limit: str) -> dict[str, Any]:
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"cpu": cpu_limit, "memory": memory_limit}}


def claim_size(volume_bytes: int) -> str:
    """Twice the seeded bytes, at least 1 GiB, in whole GiB."""
    gib = max(1, -(-2 * volume_bytes // (1 << 30)))
    return f"{gib}Gi"


def app_manifests(namespace: str, name: str, site: str, run_id: str, volume_bytes: int) -> list[dict[str, Any]]:
    """PVC, Deployment, Service and NetworkPolicy of one drill app."""
    labels = _labels(name, run_id)
    meta = {"name": name, "namespace": namespace, "labels": labels}
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {**meta, "name": f"{name}-data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": claim_size(volume_bytes)}}},
    }
    container = {
        "name": "app",
        "image": LAB_IMAGE,
        "imagePullPolicy": "Never",
        "args": ["-m", "pdn.migrate.standin"],
        "env": [
            {"name": "PDN_STORAGE", "value": "volume"},
            {"name": "PDN_LEGACY_APP_ID", "value": name},
            {"name": "PDN_SITE", "value": site},
        ],
        "ports": [{"name": "http", "containerPort": PORT}],
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"}, "periodSeconds": 2},
        "volumeMounts": [{"name": "data", "mountPath": "/data"}, {"name": "tmp", "mountPath": "/tmp"}],
        "resources": _resources("10m", "48Mi", "500m", "192Mi"),
        "securityContext": container_security_context(),
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {
            "replicas": 1,
            "strategy": {"type": "Recreate"},  # one writer of a ReadWriteOnce volume
            "selector": {"matchLabels": {APP_LABEL: name}},
            "template": {
                "metadata": {"labels": labels, "annotations": dict(EXCLUDE_ANNOTATION)},
                "spec": {
                    "automountServiceAccountToken": False,
                    "securityContext": pod_security_context(),
                    "containers": [container],
                    "volumes": [
                        {"name": "data", "persistentVolumeClaim": {"claimName": f"{name}-data"}},
                        {"name": "tmp", "emptyDir": {"sizeLimit": "16Mi"}},
                    ],
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta,
        "spec": {"selector": {APP_LABEL: name}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
    }
    policy = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {**meta, "name": f"{name}-from-namespace"},
        "spec": {
            "podSelector": {"matchLabels": {APP_LABEL: name}},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"podSelector": {}}], "ports": [{"port": PORT, "protocol": "TCP"}]}],
        },
    }
    return [claim, deployment, service, policy]


def seed_job(namespace: str, name: str, run_id: str, files: int, volume_bytes: int) -> dict[str, Any]:
    """The one-shot Job that fills the app's volume (it lands on the volume's node)."""
    labels = {**_labels(name, run_id), "pdn.go.id/role": "volume-seed"}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": f"{name}-seed", "namespace": namespace, "labels": labels},
        "spec": {
            "backoffLimit": 3,
            "ttlSecondsAfterFinished": 600,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "restartPolicy": "OnFailure",
                    "automountServiceAccountToken": False,
                    "securityContext": pod_security_context(),
                    "containers": [
                        {
                            "name": "seed",
                            "image": LAB_IMAGE,
                            "imagePullPolicy": "Never",
                            "args": [
                                *("-m", "pdn.backup.volfiles", "seed", "--dir", "/data"),
                                *("--files", str(files), "--bytes", str(volume_bytes), "--run-id", run_id),
                            ],
                            "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                            "resources": _resources("50m", "48Mi", "1", "160Mi"),
                            "securityContext": container_security_context(),
                        }
                    ],
                    "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": f"{name}-data"}}],
                },
            },
        },
    }


def _apply(client: kube.Kube, objects: Iterable[dict[str, Any]]) -> None:
    for obj in objects:
        client.apply(obj, field_manager=FIELD_MANAGER, force=True)


def create_apps(
    site: str,
    namespace: str,
    count: int,
    files: int,
    volume_bytes: int,
    run_id: str,
    advance: Callable[[], None] = lambda: None,
) -> list[DrillApp]:
    """Create ``count`` apps, fill each volume with ``files`` files of ``volume_bytes`` in total, wait
    until every app is Ready; the seed Jobs are gone before this returns."""
    client = kube.site(site)
    apps = [DrillApp(namespace, name) for name in app_names(count)]
    for app in apps:
        _apply(client, app_manifests(namespace, app.name, site, run_id, volume_bytes))
        _apply(client, [seed_job(namespace, app.name, run_id, files, volume_bytes)])
    jobs = kube.path("batch/v1", "jobs", namespace)
    pending = {f"{app.name}-seed" for app in apps}

    def seeded() -> set[str]:
        for job in client.list_items(jobs, label_selector=f"{ROLE_LABEL}={run_id},pdn.go.id/role=volume-seed"):
            status = job.get("status") or {}
            name = job["metadata"]["name"]
            if name in pending and int(status.get("succeeded") or 0) >= 1:
                pending.discard(name)
                advance()
            if int(status.get("failed") or 0) > 3:
                raise PdnError(
                    f"{site}: seeding {namespace}/{name} failed", hint=f"kubectl -n {namespace} logs job/{name}"
                )
        return pending

    wait_until(f"{site}: {len(apps)} drill volume(s) in {namespace} to be seeded", seeded, lambda left: not left,
               timeout=SEED_TIMEOUT, interval=1.0, describe=lambda left: f"{len(left)} still seeding")  # fmt: skip
    for app in apps:  # a restored Job would run again on the partner and write into the restored volume
        client.delete(f"{jobs}/{app.name}-seed", query={"propagationPolicy": "Foreground", "gracePeriodSeconds": "0"})
    wait_until(f"{site}: the seed Jobs in {namespace} to be gone", lambda: client.list_items(
        jobs, label_selector=f"{ROLE_LABEL}={run_id},pdn.go.id/role=volume-seed"), lambda left: not left,
        timeout=60, interval=0.5, describe=lambda left: f"{len(left)} left")  # fmt: skip
    wait_ready(site, apps)
    return apps


def find_apps(site: str, namespace: str) -> list[DrillApp]:
    """Apps in ``namespace``: Deployments with a Service of the same name."""
    client = kube.site(site)
    services = {item["metadata"]["name"] for item in client.list_items(kube.path("v1", "services", namespace))}
    deployments = client.list_items(kube.path("apps/v1", "deployments", namespace))
    return sorted(
        (DrillApp(namespace, item["metadata"]["name"], _volume_only(item))
         for item in deployments if item["metadata"]["name"] in services),
        key=lambda app: app.name,
    )  # fmt: skip


def _volume_only(deployment: dict[str, Any]) -> bool:
    containers = deployment["spec"]["template"]["spec"].get("containers") or []
    env = {e.get("name"): e.get("value") for c in containers for e in c.get("env") or []}
    return env.get("PDN_STORAGE") == "volume"


def _not_ready(client: kube.Kube, apps: list[DrillApp]) -> list[str]:
    namespaces = sorted({app.namespace for app in apps})
    ready: set[tuple[str, str]] = set()
    for namespace in namespaces:
        for item in client.list_items(kube.path("apps/v1", "deployments", namespace)):
            wanted = int(item["spec"].get("replicas", 1))
            status = item.get("status") or {}
            if int(status.get("readyReplicas") or 0) >= wanted and int(status.get("updatedReplicas") or 0) >= wanted:
                ready.add((namespace, item["metadata"]["name"]))
    return [f"{app.namespace}/{app.name}" for app in apps if (app.namespace, app.name) not in ready]


def wait_ready(site: str, apps: list[DrillApp], timeout: float = READY_TIMEOUT) -> float:
    """Wait until every app's Deployment is Ready; returns the monotonic time it was."""
    client = kube.site(site)
    wait_until(f"{site}: {len(apps)} app(s) to be Ready", lambda: _not_ready(client, apps), lambda left: not left,
               timeout=timeout, interval=1.0, describe=lambda left: f"not ready: {', '.join(left[:5])}",
               hint=f"kubectl -n {apps[0].namespace} get pods" if apps else None)  # fmt: skip
    return time.monotonic()


def _answer(result: dict[str, Any]) -> dict[str, Any]:
    body = result.get("body")
    return {"status": result.get("status"), "error": result.get("error"),
            "body": body if isinstance(body, dict) else None}  # fmt: skip


def _fingerprint(entry: dict[str, Any]) -> str:
    """What identifies one volume entry: a file's SHA-256, a link's target, another kind's name."""
    return str(entry.get("sha256") or entry.get("link") or entry.get("type"))


def smoke(site: str, apps: list[DrillApp]) -> dict[str, dict[str, Any]]:
    """Each app's answers, normalised for comparison: ``{app: {"healthz", "readyz", "volume"}}``.

    One probe pod per namespace asks every app there in turn.
    """
    client = kube.site(site)
    answers: dict[str, dict[str, Any]] = {}
    for namespace in sorted({app.namespace for app in apps}):
        here = [app for app in apps if app.namespace == namespace]
        urls = [f"{app.url}{path}" for app in here for path in ("/healthz", "/readyz", "/volume")]
        results = run_probe(client, namespace, urls, timeout=VOLUME_TIMEOUT, retry_refused=REFUSED_GRACE)
        for index, app in enumerate(here):
            health, ready, volume = (_answer(r) for r in results[3 * index : 3 * index + 3])
            shown = volume["body"] or {}
            answers[app.name] = {
                "healthz": {"status": health["status"], "app_id": (health["body"] or {}).get("app_id")},
                "readyz": {"status": ready["status"]},
                "volume": {
                    "status": volume["status"],
                    "files": shown.get("files"),
                    "bytes": shown.get("bytes"),
                    "digest": shown.get("digest"),
                },
                "entries": {e["path"]: _fingerprint(e) for e in shown.get("entries") or []},
                "error": health["error"] or ready["error"] or volume["error"],
            }
    return answers


def compare(source: dict[str, dict[str, Any]], restored: dict[str, dict[str, Any]]) -> list[str]:
    """Every way the restored apps' answers differ from the source's (empty: equal)."""
    problems: list[str] = []
    for name, mine in sorted(source.items()):
        theirs = restored.get(name)
        if theirs is None:
            problems.append(f"{name}: not running after the restore")
            continue
        if mine["volume"]["status"] != 200 or mine["readyz"]["status"] != 200:
            problems.append(f"{name}: did not answer on the source ({mine['error'] or mine['readyz']})")
        for key in ("healthz", "readyz", "volume"):
            if mine[key] != theirs[key]:
                problems.append(f"{name}: {key} differs: source {mine[key]} restored {theirs[key]}")
        if mine["volume"]["digest"] != theirs["volume"]["digest"]:
            changed = sorted(path for path in set(mine["entries"]) | set(theirs["entries"])
                             if mine["entries"].get(path) != theirs["entries"].get(path))  # fmt: skip
            if changed:
                problems.append(f"{name}: files differ: {', '.join(changed[:10])}")
    return problems
