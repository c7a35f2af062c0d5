"""One data: canonical datasets per super app, CKAN package_create bodies, residency by the site rule."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest

from pdn.migrate import datasets
from pdn.migrate.catalog import Catalog
from pdn.migrate.consolidate import load_catalog
from pdn.migrate.placement import may_hold
from pdn.migrate.schema import Classification
from pdn.migrate.workspace import read_csv
from pdn.sites import load_sites

# The parts of CKAN's package_create schema (ckan/logic/schema.py: default_create_package_schema)
# a portal checks on what we send: name rules, tag rules, extras and resources shapes.
CKAN_NAME = "^[a-z0-9_-]{2,100}$"
PACKAGE = {
    "type": "object",
    "required": ["name", "title", "owner_org", "notes", "private", "tags", "extras", "resources"],
    "properties": {
        "name": {"type": "string", "pattern": CKAN_NAME},
        "owner_org": {"type": "string", "pattern": CKAN_NAME},
        "title": {"type": "string", "minLength": 1},
        "notes": {"type": "string"},
        "private": {"type": "boolean"},
        "license_id": {"type": "string"},
        "version": {"type": "string", "maxLength": 100},
        "tags": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name"],
                "properties": {"name": {"type": "string", "pattern": r"^[\w \-.]{2,100}$"}},
                "additionalProperties": False,
            },
        },
        "extras": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["key", "value"],
                "properties": {"key": {"type": "string", "minLength": 1}, "value": {"type": "string"}},
                "additionalProperties": False,
            },
        },
        "resources": {
            "type": "array",
            "items": {"type": "object", "required": ["url", "name"], "properties": {"url": {"type": "string"}}},
        },
    },
}
CORE_FIELDS = {"name", "title", "owner_org", "notes", "private", "tags", "extras", "resources", "url", "state", "type"}


def test_every_super_app_has_its_datasets_with_owner_classification_site(pipeline: Path) -> None:
    catalog, _ = load_catalog(None, load_sites())
    table = read_csv(pipeline / datasets.DATASETS, "consolidate")
    assert {row["dataset"] for row in table} == {d.id for a in catalog.superapps for d in a.datasets}
    consolidation = {row["app_id"]: row for row in read_csv(pipeline / "consolidation.csv", "consolidate")}
    lineage = read_csv(pipeline / datasets.LINEAGE, "consolidate")
    merged = {row["app_id"] for row in lineage if row["role"] == "merged"}
    assert merged == {a for a, row in consolidation.items() if row["role"] in ("becomes", "joins")}
    archived = {row["app_id"] for row in lineage if row["role"] == "archived"}
    assert archived == {a for a, row in consolidation.items() if row["role"] == "retired-into"}
    sites = load_sites()
    order = [c.value for c in datasets.ORDER]
    for row in table:
        members = [r for r in lineage if r["dataset"] == row["dataset"] and r["role"] == "merged"] or [
            r for r in lineage if r["dataset"] == row["dataset"]
        ]
        assert row["classification"] == max((r["classification"] for r in members), key=order.index)
        assert may_hold(sites.site(row["residency_site"]), Classification(row["classification"]))
        assert row["owner"] and int(row["legacy_apps"]) == sum(
            1 for r in lineage if r["dataset"] == row["dataset"] and r["role"] == "merged"
        )


def test_ckan_packages_have_the_package_create_shape(pipeline: Path) -> None:
    files = sorted((pipeline / datasets.CKAN).glob("*.json"))
    assert len(files) == len(read_csv(pipeline / datasets.DATASETS, "consolidate"))
    for path in files:
        package = json.loads(path.read_text(encoding="utf-8"))
        jsonschema.validate(package, PACKAGE)
        assert path.stem == package["name"]
        extras = {e["key"]: e["value"] for e in package["extras"]}
        assert not extras.keys() & CORE_FIELDS  # CKAN refuses extras that shadow core fields
        assert {"publisher", "access_rights", "classification", "residency_site", "legacy_apps"} <= extras.keys()
        assert package["private"] == (extras["classification"] != "public")
        assert extras["legacy_apps_count"] == str(len([a for a in extras["legacy_apps"].split(";") if a]))
        for resource in package["resources"]:
            assert resource["url"].startswith("https://s3.") and "/mig-" in resource["url"]


def test_show_lists_the_datasets_an_app_feeds(pipeline: Path, small_inventory: Path) -> None:
    from pdn.migrate import inventory, trail

    lineage = read_csv(pipeline / datasets.LINEAGE, "consolidate")
    apps = {a.app_id: a for a in inventory.load(small_inventory).apps}
    sections = trail.trail(apps[lineage[0]["app_id"]], pipeline)
    assert any(key.startswith(lineage[0]["dataset"]) for key in sections["datasets"])
    standalone = next(
        row["app_id"] for row in read_csv(pipeline / "consolidation.csv", "consolidate") if row["role"] == "standalone"
    )
    assert isinstance(trail.trail(apps[standalone], pipeline)["datasets"], str)


def _catalog_on(site: str) -> Catalog:
    catalog, _ = load_catalog(None, load_sites())
    apps = [catalog.superapps[0].model_copy(update={"site": site}), *catalog.superapps[1:]]
    return catalog.model_copy(update={"superapps": apps})


@pytest.mark.parametrize("classification", list(Classification))
def test_residency_never_puts_data_where_the_site_rule_forbids(classification: Classification, make_app: Any) -> None:
    sites = load_sites()
    for site in sites.sites:
        placed, rule = datasets.residency(site, classification, sites)
        assert may_hold(sites.site(placed), classification), (site.id, classification, placed)
        assert (placed == site.id) == may_hold(site, classification), rule


def test_a_secret_dataset_leaves_a_site_that_may_not_hold_it(make_app: Any) -> None:
    sites = load_sites()
    weak = next(s for s in sites.sites if not may_hold(s, Classification.SECRET))
    catalog = _catalog_on(weak.id)
    superapp = catalog.superapps[0]
    apps = [
        make_app("A1", "SIMPEG", classification=Classification.INTERNAL),
        make_app("A2", "SIMPEG Bogor", classification=Classification.SECRET),
    ]
    decisions = [
        {"app_id": "A1", "cluster_id": "fn-staff", "super_app": superapp.id, "role": "becomes"},
        {"app_id": "A2", "cluster_id": "fn-staff", "super_app": superapp.id, "role": "joins"},
    ]
    built = {d.id: d for d in datasets.build(apps, decisions, catalog, sites)}
    staff = built[superapp.datasets[0].id]
    assert staff.classification == Classification.SECRET
    assert staff.site != weak.id and may_hold(sites.site(staff.site), Classification.SECRET)
    assert "failure domains" in staff.rule
    # a public dataset of the same super app may stay where the super app is
    public = next(d for d in built.values() if d.superapp.id == superapp.id and not d.merged)
    assert public.site == weak.id
