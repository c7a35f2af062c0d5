"""Tenants a wave needs on each site, written in the stacks' ``pdn:tenants`` form.

A migrated app lands in ``tenant-<owner>``; that namespace, with its quota, limits, default-deny
policies and RBAC, belongs to the tenant platform of the site's stack, not to the app's
manifests. Render therefore also writes ``tenants.yaml``: per site, the owners (agency or super
app) of the rendered apps, with the tier and data classification of their most demanding app.
Platform engineers merge it into ``stacks/Pulumi.<site>.yaml``; in the lab,
``pdn stacks up --lab --tenants tenants.yaml`` merges it on the fly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml

from pdn import naming
from pdn.migrate.render import RENDERED
from pdn.migrate.schema import AgencyType, App, Classification, Criticality
from pdn.migrate.workspace import atomic_write

TENANTS_FILE = "tenants.yaml"

KIND = {
    AgencyType.MINISTRY: "ministry",
    AgencyType.AGENCY: "agency",
    AgencyType.PROVINCE: "local-government",
    AgencyType.REGENCY: "local-government",
    AgencyType.CITY: "local-government",
}


def tenants_by_site(
    apps: Sequence[App],
    plan_rows: Sequence[Mapping[str, str]],
    super_names: Mapping[str, str],
    only: set[str] | None = None,
    wave: int | None = None,
) -> dict[str, list[dict[str, str]]]:
    """Site -> tenants (name, kind, tier, classification) of the apps render emits, sorted by name.

    Owners are told apart by their namespace (:func:`pdn.naming.tenant_slug`): two spellings of
    one agency that share a namespace are one tenant, under the first spelling met."""
    by_id = {app.app_id: app for app in apps}
    found: dict[str, dict[str, dict[str, str]]] = {}
    for row in plan_rows:
        if row["move_type"] not in RENDERED or (only is not None and row["app_id"] not in only):
            continue
        if wave is not None and row.get("wave") != str(wave):
            continue
        app = by_id[row["app_id"]]
        super_name = super_names.get(row["super_app"], "")
        name = super_name or app.agency
        kind = "super-app" if super_name else KIND[app.agency_type]
        tier, classification = app.criticality.value, app.classification.value
        tenant = found.setdefault(row["site"], {}).setdefault(
            naming.tenant_slug(name), {"name": name, "kind": kind, "tier": tier, "classification": classification}
        )
        if app.criticality.rank > Criticality(tenant["tier"]).rank:
            tenant["tier"] = tier
        if app.classification.rank > Classification(tenant["classification"]).rank:
            tenant["classification"] = classification
    return {site: sorted(tenants.values(), key=lambda t: t["name"]) for site, tenants in sorted(found.items())}


def write_tenants(tenants: Mapping[str, list[dict[str, str]]], folder: Path) -> Path:
    path = folder / TENANTS_FILE
    header = "# Tenants the rendered apps need, per site, in the form of pdn:tenants (stacks/Pulumi.<site>.yaml).\n"
    atomic_write(path, header + yaml.safe_dump(dict(tenants), sort_keys=False, allow_unicode=True))
    return path
