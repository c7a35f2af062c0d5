"""``pdn migrate render``: Kubernetes manifests per migrated app, from Jinja2 templates.

Apps with a database in their stack become a StatefulSet (volume claim template); the others a
Deployment with its own PVC. Every app also gets a Service, a NetworkPolicy (ingress only from
its namespace and the platform ingress; egress only to DNS, its namespace and the namespaces of
what it depends on) and a ConfigMap. Pods meet the ``restricted`` Pod Security profile.
Namespaces follow the platform rule: ``tenant-<slug(agency or super-app name)>``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from pdn.errors import InputError
from pdn.migrate.placement import app_vcpu
from pdn.migrate.runbook import environment
from pdn.migrate.schema import App
from pdn.migrate.workspace import MANIFESTS, atomic_write, bucket_name
from pdn.sites.model import SiteModel, slug

DATABASES = re.compile(r"^(mysql|mariadb|postgresql|postgres|oracle|sqlserver|mongodb|firebird|access)\b")
RENDERED = {"becomes", "rehost", "replatform", "refactor"}
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
TEMPLATES = ("configmap", "service", "networkpolicy", "pvc", "workload")


def tenant_slug(owner: str) -> str:
    """Slug of the owner, cut so that ``tenant-<slug>`` is a valid 63-character namespace."""
    return slug(owner)[:56].strip("-")


def namespace_of(app: App, super_app_name: str) -> str:
    return "tenant-" + tenant_slug(super_app_name or app.agency)


def _quantity_gi(gb: float) -> str:
    return f"{max(1, math.ceil(gb * 1.2))}Gi"  # 20 % headroom over the legacy data size


def context(
    app: App,
    row: Mapping[str, str],
    super_names: Mapping[str, str],
    namespaces: Mapping[str, str],
    sites: SiteModel,
    registry: str,
    storage_class: str,
) -> dict[str, Any]:
    site = sites.site(row["site"])
    super_name = super_names.get(row["super_app"], "")
    owner = super_name or app.agency
    stateful = any(DATABASES.match(component) for component in app.tech_stack)
    name = slug(super_name)[:40].strip("-") if row["move_type"] == "becomes" else slug(app.app_id)
    vcpu = app_vcpu(app)
    own = namespaces[app.app_id]
    return {
        "app_id": app.app_id,
        "name": name,
        "legacy_name": app.name,
        "legacy_dc": app.legacy_dc,
        "part_of": slug(row["super_app"] or app.app_id),
        "namespace": own,
        "tenant": tenant_slug(owner),
        "site": site.id,
        "classification": app.classification.value,
        "tier": app.criticality.value,
        "kind": "StatefulSet" if stateful else "Deployment",
        "replicas": 2 if app.criticality.value in ("high", "vital") else 1,
        "image": f"{registry}/{slug(app.app_id)}:migrated",
        "cpu_request": f"{max(50, round(vcpu * 1000))}m",
        "memory_request": f"{max(128, round(vcpu * 1024))}Mi",
        "memory_limit": f"{max(256, round(vcpu * 2048))}Mi",
        "storage": _quantity_gi(app.data_gb),
        "storage_class": storage_class,
        "s3_endpoint": site.object_storage.endpoint,
        "s3_region": site.object_storage.region,
        "bucket": bucket_name(app.app_id),
        "dependency_namespaces": sorted({namespaces[d] for d in app.depends_on if d in namespaces} - {own}),
    }


def render_app(ctx: Mapping[str, Any]) -> dict[str, str]:
    """File name -> YAML text for one app; each document is parsed back as a self-check."""
    env = environment()
    files: dict[str, str] = {}
    for name in TEMPLATES:
        if name == "pvc" and ctx["kind"] == "StatefulSet":
            continue
        text = env.get_template(f"k8s/{name}.yaml.j2").render(a=ctx)
        try:
            yaml.load(text, Loader=SAFE_LOADER)
        except yaml.YAMLError as error:  # a template bug, never user input: say where
            raise InputError(
                f"template k8s/{name}.yaml.j2 produced invalid YAML for {ctx['app_id']}: {error}"
            ) from None
        files[f"{name}.yaml"] = text
    return files


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
    by_id = {app.app_id: app for app in apps}
    namespaces = {
        row["app_id"]: namespace_of(by_id[row["app_id"]], super_names.get(row["super_app"], "")) for row in plan_rows
    }
    written: list[Path] = []
    for row in plan_rows:
        if row["move_type"] not in RENDERED:
            continue
        if only is not None and row["app_id"] not in only:
            continue
        if wave is not None and int(row["wave"]) != wave:
            continue
        app = by_id[row["app_id"]]
        ctx = context(app, row, super_names, namespaces, sites, registry, storage_class)
        folder = out / MANIFESTS / app.app_id
        for name, text in render_app(ctx).items():
            atomic_write(folder / name, text)
        written.append(folder)
    if only and not written:
        raise InputError(
            f"nothing to render for {', '.join(sorted(only))}",
            hint="only apps that move as a deployment (becomes/rehost/replatform/refactor) get manifests",
        )
    return written
