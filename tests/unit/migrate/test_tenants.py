"""The tenants a wave needs: every rendered namespace belongs to a tenant the site's stack onboards."""

from __future__ import annotations

from pathlib import Path

import yaml

from pdn.migrate import inventory
from pdn.migrate import render as render_stage
from pdn.migrate.consolidate import load_catalog
from pdn.migrate.tenants import tenants_by_site, write_tenants
from pdn.migrate.workspace import read_csv
from pdn.naming import tenant_namespace
from pdn.sites import load_sites
from pdn.sites.vocabulary import Classification

KINDS = {"ministry", "agency", "local-government", "super-app"}
TIERS = ["low", "medium", "high", "vital"]


def test_every_rendered_namespace_has_its_tenant_on_its_site(
    pipeline: Path, small_inventory: Path, tmp_path: Path
) -> None:
    apps = inventory.load(small_inventory).apps
    by_id = {app.app_id: app for app in apps}
    sites = load_sites()
    catalog, _ = load_catalog(None, sites)
    names = {item.id: item.name for item in catalog.superapps}
    plan_rows = read_csv(pipeline / "plan.csv", "plan")
    folders = render_stage.run(apps, plan_rows, names, sites, tmp_path, wave=1)
    tenants = tenants_by_site(apps, plan_rows, names, wave=1)
    assert folders and tenants
    namespaces_by_site = {site: {tenant_namespace(t["name"]) for t in entries} for site, entries in tenants.items()}
    for folder in folders:
        row = next(r for r in plan_rows if r["app_id"] == folder.name)
        for path in folder.glob("*.yaml"):
            namespace = yaml.safe_load(path.read_text(encoding="utf-8"))["metadata"]["namespace"]
            assert namespace in namespaces_by_site[row["site"]], (folder.name, namespace)
    for site, entries in tenants.items():
        for tenant in entries:
            assert tenant["kind"] in KINDS and tenant["tier"] in TIERS
            assert tenant["classification"] in set(Classification)
            owned = [
                by_id[r["app_id"]]
                for r in plan_rows
                if r["wave"] == "1"
                and r["site"] == site
                and r["move_type"] in render_stage.RENDERED
                and (names.get(r["super_app"], "") or by_id[r["app_id"]].agency) == tenant["name"]
            ]
            # the tenant gets the tier of its most critical app
            assert tenant["tier"] == max((a.criticality.value for a in owned), key=TIERS.index)
            # ... and the class of its most sensitive data, in the one vocabulary the stacks use
            assert tenant["classification"] == max((a.classification for a in owned), key=lambda c: c.rank)
    written = yaml.safe_load(write_tenants(tenants, tmp_path).read_text(encoding="utf-8"))
    assert written == tenants
