"""``pdn migrate render``: Kubernetes manifests per migrated app, built as data and serialised.

Apps with a database in their stack become a StatefulSet (volume claim template); the others a
Deployment with its own PVC. Every app also gets a Service, a NetworkPolicy (ingress only from
its namespace and the platform ingress; egress only to DNS, its namespace and the namespaces of
what it depends on) and a ConfigMap. Pods meet the ``restricted`` Pod Security profile.

Every object is a Python dict serialised by the YAML library, never text from a template:
inventory values are hostile input, and whatever they hold (newlines, ``---``, ``{{ }}``, flow
or anchor syntax, ``hostNetwork: true``) stays one string value where it is put. Names come
from :mod:`pdn.naming`; file paths are checked against the output folder; every file is parsed
back and compared with the object it came from before anything is written.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pdn import naming, safeload
from pdn.errors import InputError, PdnError
from pdn.migrate.placement import app_vcpu
from pdn.migrate.schema import App
from pdn.migrate.workspace import MANIFESTS, atomic_write, inside, output_folder
from pdn.naming import bucket_name
from pdn.safeload import shown
from pdn.sites.model import SiteModel

__all__ = ["FILES", "RENDERED", "bucket_name", "build_objects", "namespace_of", "run", "serialise"]

DATABASES = re.compile(r"^(mysql|mariadb|postgresql|postgres|oracle|sqlserver|mongodb|firebird|access)\b")
RENDERED = {"becomes", "rehost", "replatform", "refactor"}
FILES = ("configmap.yaml", "service.yaml", "networkpolicy.yaml", "pvc.yaml", "workload.yaml")
UID = 10001
_DUMPER: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def namespace_of(app: App, super_app_name: str) -> str:
    return naming.tenant_namespace(super_app_name or app.agency)


def _quantity_gi(gb: float) -> str:
    return f"{max(1, math.ceil(gb * 1.2))}Gi"  # 20 % headroom over the legacy data size


@dataclass(frozen=True)
class Target:
    """Where and how one app runs: everything its objects are built from."""

    app: App
    name: str
    namespace: str
    tenant: str
    part_of: str
    site: str
    s3_endpoint: str
    s3_region: str
    stateful: bool
    dependency_namespaces: tuple[str, ...]


def target(
    app: App,
    row: Mapping[str, str],
    super_names: Mapping[str, str],
    namespaces: Mapping[str, str],
    sites: SiteModel,
) -> Target:
    site = sites.site(row["site"])
    super_name = super_names.get(row["super_app"], "")
    own = namespaces[app.app_id]
    return Target(
        app=app,
        name=naming.resource_name(super_name if row["move_type"] == "becomes" and super_name else app.app_id),
        namespace=own,
        tenant=naming.tenant_slug(super_name or app.agency),
        part_of=naming.label_value(naming.slug(row["super_app"] or app.app_id)),
        site=site.id,
        s3_endpoint=site.object_storage.endpoint,
        s3_region=site.object_storage.region,
        stateful=any(DATABASES.match(component) for component in app.tech_stack),
        dependency_namespaces=tuple(sorted({namespaces[d] for d in app.depends_on if d in namespaces} - {own})),
    )


def _labels(t: Target) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": t.name,
        "app.kubernetes.io/part-of": t.part_of,
        "app.kubernetes.io/managed-by": "pdn-migrate",
        "pdn.go.id/tenant": t.tenant,
        "pdn.go.id/site": t.site,
        "pdn.go.id/classification": t.app.classification.value,
        "pdn.go.id/tier": t.app.criticality.value,
        "pdn.go.id/legacy-app": naming.label_value(t.app.app_id),
    }


def _metadata(t: Target, name: str) -> dict[str, Any]:
    return {"name": name, "namespace": t.namespace, "labels": _labels(t)}


def _volume_claim_spec(storage: str, storage_class: str) -> dict[str, Any]:
    spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"]}
    if storage_class:
        spec["storageClassName"] = storage_class
    spec["resources"] = {"requests": {"storage": storage}}
    return spec


def _pod_spec(t: Target, image: str) -> dict[str, Any]:
    vcpu = app_vcpu(t.app)
    volumes: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {}}]
    if not t.stateful:
        volumes.append({"name": "data", "persistentVolumeClaim": {"claimName": f"{t.name}-data"}})
    return {
        "automountServiceAccountToken": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": UID,
            "runAsGroup": UID,
            "fsGroup": UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [
            {
                "name": "app",
                "image": image,
                "ports": [{"name": "http", "containerPort": 8080}],
                "envFrom": [{"configMapRef": {"name": f"{t.name}-config"}}],
                "resources": {
                    "requests": {
                        "cpu": f"{max(50, round(vcpu * 1000))}m",
                        "memory": f"{max(128, round(vcpu * 1024))}Mi",
                    },
                    "limits": {"memory": f"{max(256, round(vcpu * 2048))}Mi"},
                },
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "readOnlyRootFilesystem": True,
                    "runAsNonRoot": True,
                    "capabilities": {"drop": ["ALL"]},
                },
                "volumeMounts": [{"name": "data", "mountPath": "/data"}, {"name": "tmp", "mountPath": "/tmp"}],
            }
        ],
        "volumes": volumes,
    }


def build_objects(t: Target, registry: str, storage_class: str) -> dict[str, dict[str, Any]]:
    """File name -> Kubernetes object for one app (four or five files, one object each)."""
    app = t.app
    storage = _quantity_gi(app.data_gb)
    selector = {"app.kubernetes.io/name": t.name}
    objects: dict[str, dict[str, Any]] = {
        "configmap.yaml": {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                **_metadata(t, f"{t.name}-config"),
                "annotations": {"pdn.go.id/legacy-name": app.name, "pdn.go.id/legacy-dc": app.legacy_dc},
            },
            "data": {
                "PDN_LEGACY_APP_ID": app.app_id,
                "PDN_SITE": t.site,
                "PDN_S3_ENDPOINT": t.s3_endpoint,
                "PDN_S3_REGION": t.s3_region,
                "PDN_S3_BUCKET": naming.bucket_name(app.app_id),
                "PDN_S3_ADDRESSING": "path",
            },
        },
        "service.yaml": {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _metadata(t, t.name),
            "spec": {
                "type": "ClusterIP",
                "selector": selector,
                "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
            },
        },
        "networkpolicy.yaml": {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": _metadata(t, t.name),
            "spec": {
                "podSelector": {"matchLabels": selector},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [
                    {
                        "from": [
                            {"podSelector": {}},
                            {"namespaceSelector": {"matchLabels": {"pdn.go.id/role": "ingress"}}},
                        ],
                        "ports": [{"port": "http", "protocol": "TCP"}],
                    }
                ],
                "egress": [
                    {
                        "to": [
                            {
                                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                            }
                        ],
                        "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
                    },
                    {
                        "to": [
                            {"podSelector": {}},
                            *(
                                {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}}
                                for ns in t.dependency_namespaces
                            ),
                        ]
                    },
                ],
            },
        },
    }
    if not t.stateful:
        objects["pvc.yaml"] = {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": _metadata(t, f"{t.name}-data"),
            "spec": _volume_claim_spec(storage, storage_class),
        }
    workload: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet" if t.stateful else "Deployment",
        "metadata": _metadata(t, t.name),
        "spec": {"replicas": 2 if app.criticality.value in ("high", "vital") else 1},
    }
    if t.stateful:
        workload["spec"]["serviceName"] = t.name
    workload["spec"]["selector"] = {"matchLabels": selector}
    workload["spec"]["template"] = {
        "metadata": {"labels": _labels(t)},
        "spec": _pod_spec(t, f"{registry}/{naming.resource_name(app.app_id)}:migrated"),
    }
    if t.stateful:
        workload["spec"]["volumeClaimTemplates"] = [
            {"metadata": {"name": "data", "labels": _labels(t)}, "spec": _volume_claim_spec(storage, storage_class)}
        ]
    objects["workload.yaml"] = workload
    return objects


def serialise(obj: Mapping[str, Any], where: str) -> str:
    """One YAML document for ``obj``, proven to load back as exactly ``obj``."""
    text = yaml.dump(obj, Dumper=_DUMPER, sort_keys=False, allow_unicode=True, width=1_000_000)
    if safeload.yaml_text(text, where) != obj:  # a bug in this module, never user input
        raise PdnError(f"{where}: the serialised manifest does not load back as the object it came from")
    return text


def run(
    apps: Sequence[App],
    plan_rows: Sequence[Mapping[str, str]],
    super_names: Mapping[str, str],
    sites: SiteModel,
    out: Path,
    registry: str = "registry.pdn.go.id/migrate",
    storage_class: str = "",
    only: set[str] | None = None,
    wave: int | None = None,
) -> list[Path]:
    """Write ``manifests/<app>/`` for every rendered app; everything is built and checked first,
    so an error writes nothing."""
    by_id = {app.app_id: app for app in apps}
    namespaces = {
        row["app_id"]: namespace_of(by_id[row["app_id"]], super_names.get(row["super_app"], "")) for row in plan_rows
    }
    planned: list[tuple[Path, dict[str, str]]] = []
    owners: dict[tuple[str, str, str], str] = {}  # (namespace, kind, name) -> app_id
    for row in plan_rows:
        if row["move_type"] not in RENDERED:
            continue
        if only is not None and row["app_id"] not in only:
            continue
        if wave is not None and int(row["wave"]) != wave:
            continue
        app = by_id[row["app_id"]]
        objects = build_objects(target(app, row, super_names, namespaces, sites), registry, storage_class)
        for obj in objects.values():
            meta = obj["metadata"]
            key = (meta["namespace"], obj["kind"], meta["name"])
            if key in owners and owners[key] != app.app_id:
                raise InputError(
                    f"apps {owners[key]} and {app.app_id} would both be {obj['kind']} {meta['name']} "
                    f"in namespace {meta['namespace']}",
                    hint="give one of them another app_id",
                )
            owners[key] = app.app_id
        folder = inside(out, MANIFESTS, naming.app_folder(app.app_id))
        texts = {name: serialise(obj, f"{app.app_id}/{name}") for name, obj in objects.items()}
        planned.append((folder, texts))
    if only and not planned:
        raise InputError(
            f"nothing to render for {', '.join(sorted(only))}",
            hint="only apps that move as a deployment (becomes/rehost/replatform/refactor) get manifests",
        )
    root = out.resolve()
    for folder, _ in planned:  # a file in the way fails before anything is written
        for part in (folder, *folder.parents[: len(folder.parents) - len(root.parents) - 1]):
            if part.exists() and not part.is_dir():
                raise InputError(f"output folder {shown(part)} is a file, not a folder", hint="move it away")
    for folder, _ in planned:
        output_folder(folder)
    for folder, texts in planned:
        for name, text in texts.items():
            atomic_write(inside(folder, name), text)
        for stale in set(FILES) - set(texts):  # e.g. pvc.yaml of an app that became a StatefulSet
            (folder / stale).unlink(missing_ok=True)
    return [folder for folder, _ in planned]
