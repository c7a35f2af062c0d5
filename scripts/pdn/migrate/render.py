"""``pdn migrate render``: Kubernetes manifests per migrated app, built as data and serialised.

Apps with a database in their stack become a StatefulSet (volume claim template); the others a
Deployment with its own PVC. Every app also gets a Service, a NetworkPolicy (ingress only from
its namespace and the platform ingress; egress only to DNS, its namespace and the namespaces of
what it depends on) and a ConfigMap. Pods meet the ``restricted`` Pod Security profile.

Pods read their data from the app's bucket in the site's object store, with the credentials of the
Secret ``<app>-s3`` (issued per app by whoever owns the store's credentials; ``pdn up`` issues
short-lived, bucket-scoped ones in the lab). A *lab runtime* (``--lab``) renders the same objects
for the local lab: the stand-in image (:mod:`pdn.migrate.standin`) instead of the app's migrated
image, the object store as pods on the lab's real nodes reach it, and requests scaled down so a
wave fits on one small node; production renders keep the app's own image reference.

Every object is a Python dict serialised by the YAML library, never text from a template:
inventory values are hostile input, and whatever they hold (newlines, ``---``, ``{{ }}``, flow
or anchor syntax, ``hostNetwork: true``) stays one string value where it is put. Names come
from :mod:`pdn.naming`; file paths are checked against the output folder; every file is parsed
back and compared with the object it came from before anything is written.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from pdn import naming, safeload
from pdn.errors import InputError, PdnError
from pdn.migrate.placement import app_vcpu
from pdn.migrate.pods import LAB_IMAGE, container_security_context, pod_security_context
from pdn.migrate.schema import App
from pdn.migrate.workspace import MANIFESTS, atomic_write, inside, output_folder
from pdn.naming import bucket_name
from pdn.safeload import shown
from pdn.sites.model import SiteModel

__all__ = [
    "FILES",
    "RENDERED",
    "LabRuntime",
    "ObjectStore",
    "bucket_name",
    "build_objects",
    "credentials_secret",
    "namespace_of",
    "run",
    "serialise",
]

DATABASES = re.compile(r"^(mysql|mariadb|postgresql|postgres|oracle|sqlserver|mongodb|firebird|access)\b")
RENDERED = {"becomes", "rehost", "replatform", "refactor"}
FILES = ("configmap.yaml", "service.yaml", "networkpolicy.yaml", "pvc.yaml", "workload.yaml")
_DUMPER: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


@dataclass(frozen=True)
class ObjectStore:
    """The object store as an app's pods reach it: its endpoint and the networks it answers on."""

    endpoint: str
    networks: tuple[str, ...]

    @property
    def port(self) -> int:
        parts = urlsplit(self.endpoint)
        return parts.port or (443 if parts.scheme == "https" else 80)


@dataclass(frozen=True)
class LabRuntime:
    """How apps run in the local lab instead of production (see the module docstring)."""

    store: Callable[[str], ObjectStore]  # site id -> the store as the lab's pods reach it
    image: str = LAB_IMAGE
    #: The lab's node has two cores for a whole wave: requests shrink by this factor, so that the
    #: quota, limits and scheduling are still exercised with the same proportions.
    request_scale: float = 0.05


def credentials_secret(app_name: str) -> str:
    """The Secret holding an app's object store credentials (AWS_* variables)."""
    return f"{app_name}-s3"


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
    store: ObjectStore
    s3_region: str
    stateful: bool
    dependency_namespaces: tuple[str, ...]


def target(
    app: App,
    row: Mapping[str, str],
    super_names: Mapping[str, str],
    namespaces: Mapping[str, str],
    sites: SiteModel,
    lab: LabRuntime | None = None,
) -> Target:
    site = sites.site(row["site"])
    store = (
        lab.store(site.id)
        if lab
        else ObjectStore(site.object_storage.endpoint, tuple(str(net) for net in site.object_storage.networks))
    )
    super_name = super_names.get(row["super_app"], "")
    own = namespaces[app.app_id]
    return Target(
        app=app,
        name=naming.resource_name(super_name if row["move_type"] == "becomes" and super_name else app.app_id),
        namespace=own,
        tenant=naming.tenant_slug(super_name or app.agency),
        part_of=naming.label_value(naming.slug(row["super_app"] or app.app_id)),
        site=site.id,
        store=store,
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


def _resources(vcpu: float, scale: float) -> dict[str, Any]:
    # production keeps its minimum sizes (50m, 128Mi, limit 256Mi); the lab its own, smaller ones
    cpu_floor, memory_floor, limit_floor = (50, 128, 256) if scale == 1.0 else (10, 64, 192)
    cpu = max(cpu_floor, round(vcpu * 1000 * scale))
    memory = max(memory_floor, round(vcpu * 1024 * scale))
    limit = max(limit_floor, round(vcpu * 2048 * scale))
    return {"requests": {"cpu": f"{cpu}m", "memory": f"{memory}Mi"}, "limits": {"memory": f"{limit}Mi"}}


def _probes(lab: LabRuntime | None) -> dict[str, Any]:
    """The stand-in answers ``/readyz`` once it can list its bucket; a legacy app's own health path is
    unknown, so production pods are ready when their port accepts connections."""
    if lab:
        return {
            "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"}, "periodSeconds": 5},
            "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 20},
        }
    return {"readinessProbe": {"tcpSocket": {"port": "http"}, "periodSeconds": 10}}


def _pod_spec(t: Target, image: str, lab: LabRuntime | None) -> dict[str, Any]:
    vcpu = app_vcpu(t.app)
    volumes: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {}}]
    if not t.stateful:
        volumes.append({"name": "data", "persistentVolumeClaim": {"claimName": f"{t.name}-data"}})
    return {
        "automountServiceAccountToken": False,
        "securityContext": pod_security_context(),
        "containers": [
            {
                "name": "app",
                "image": image,
                **({"args": ["-m", "pdn.migrate.standin"], "imagePullPolicy": "Never"} if lab else {}),
                "ports": [{"name": "http", "containerPort": 8080}],
                "envFrom": [
                    {"configMapRef": {"name": f"{t.name}-config"}},
                    {"secretRef": {"name": credentials_secret(t.name)}},
                ],
                "resources": _resources(vcpu, lab.request_scale if lab else 1.0),
                **_probes(lab),
                "securityContext": container_security_context(),
                "volumeMounts": [{"name": "data", "mountPath": "/data"}, {"name": "tmp", "mountPath": "/tmp"}],
            }
        ],
        "volumes": volumes,
    }


def _store_egress(store: ObjectStore) -> list[dict[str, Any]]:
    """Egress to the object store's networks on its port (nothing when the model names none)."""
    if not store.networks:
        return []
    return [
        {
            "to": [{"ipBlock": {"cidr": network}} for network in store.networks],
            "ports": [{"port": store.port, "protocol": "TCP"}],
        }
    ]


def build_objects(
    t: Target, registry: str, storage_class: str, lab: LabRuntime | None = None
) -> dict[str, dict[str, Any]]:
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
                "PDN_S3_ENDPOINT": t.store.endpoint,
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
                    *_store_egress(t.store),
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
        "spec": _pod_spec(t, lab.image if lab else f"{registry}/{naming.resource_name(app.app_id)}:migrated", lab),
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
    lab: LabRuntime | None = None,
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
        objects = build_objects(target(app, row, super_names, namespaces, sites, lab), registry, storage_class, lab)
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
