"""Satu data: the canonical datasets of each super app, built from the merged legacy apps' data.

Consolidation decides which legacy apps fold into which super app; this module decides where
their *data* goes. Each super app's catalog entry lists its canonical datasets (an owner agency
and the glossary concepts whose data each takes). A legacy app that becomes or joins a super
app merges its data into the dataset that takes its cluster's concepts; an app retired into the
super app has its data archived there (listed, not merged).

Per dataset: owner agency, classification (the most sensitive of the data merging in: a
dataset holding one secret record is secret), residency site (the super app's site when it may
hold that classification under the placement rule of ``placement.may_hold``, else the nearest
site that may) and the legacy apps behind it.

Outputs: ``datasets.csv`` (one row per dataset), ``dataset_sources.csv`` (dataset, legacy app,
role) and ``ckan/<name>.json``: one CKAN ``package_create`` body per dataset, with DCAT-style
extras (publisher, access rights, conformance, residency), ready for a Satu Data portal:
``curl -H "Authorization: $KEY" -d @ckan/<name>.json https://portal/api/3/action/package_create``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pdn.migrate.catalog import Catalog, SuperApp
from pdn.migrate.placement import distance_km, may_hold
from pdn.migrate.schema import App, Classification
from pdn.migrate.workspace import atomic_write, write_csv
from pdn.naming import bucket_name, ckan_name
from pdn.sites.model import Site, SiteModel

DATASETS = "datasets.csv"
LINEAGE = "dataset_sources.csv"
CKAN = "ckan"
ORDER = (Classification.PUBLIC, Classification.INTERNAL, Classification.RESTRICTED, Classification.SECRET)
MERGING = ("becomes", "joins")
HEADER = (
    "dataset",
    "ckan_name",
    "super_app",
    "title",
    "owner",
    "classification",
    "residency_site",
    "residency_rule",
    "legacy_apps",
    "archived_apps",
    "data_gb",
)


@dataclass
class CanonicalDataset:
    id: str
    superapp: SuperApp
    title: str
    owner: str
    concepts: tuple[str, ...]
    merged: list[App] = field(default_factory=list)  # becomes/joins: data merges in
    archived: list[App] = field(default_factory=list)  # retired-into: data archived here
    base: str = ""  # the app that becomes the super app (its bucket holds the merged data)
    classification: Classification = Classification.PUBLIC
    site: str = ""
    rule: str = ""

    @property
    def data_gb(self) -> float:
        return round(sum(app.data_gb for app in self.merged), 2)


def residency(preferred: Site, classification: Classification, sites: SiteModel) -> tuple[str, str]:
    """The site a dataset lives on and why: its super app's site, or the nearest that may hold it."""
    if may_hold(preferred, classification):
        return preferred.id, f"{classification.value} data may stay on the super app's site {preferred.id}"
    allowed = [site for site in sites.sites if may_hold(site, classification)]
    if not allowed:
        raise ValueError(f"no site may hold {classification.value} data")  # the site model forbids this
    here = preferred.coordinates
    nearest = min(allowed, key=lambda s: (distance_km(here.lat, here.lon, s.coordinates.lat, s.coordinates.lon), s.id))
    return nearest.id, (
        f"{classification.value} data needs a site with >= 3 failure domains; {preferred.id} has "
        f"{len(preferred.failure_domains)}, nearest allowed is {nearest.id}"
    )


def _dataset_for(superapp: SuperApp, concepts: set[str]) -> int:
    """Index of the super app's dataset sharing most concepts with a cluster (catalog order on ties)."""
    best, chosen = 0, 0
    for index, dataset in enumerate(superapp.datasets):
        overlap = len(concepts & set(dataset.concepts))
        if overlap > best:
            best, chosen = overlap, index
    return chosen


def build(
    apps: Sequence[App], decisions: Sequence[Mapping[str, str]], catalog: Catalog, sites: SiteModel
) -> list[CanonicalDataset]:
    """The canonical datasets of every super app, with the legacy apps behind each."""
    from pdn.migrate.consolidate import concepts_of

    found: dict[str, CanonicalDataset] = {}
    for superapp in catalog.superapps:
        for spec in superapp.datasets:
            found[spec.id] = CanonicalDataset(spec.id, superapp, spec.title, spec.owner, tuple(spec.concepts))
    by_id = {app.app_id: app for app in apps}
    for row in decisions:
        if not row["super_app"]:
            continue
        superapp = catalog.superapp(row["super_app"])
        dataset = found[superapp.datasets[_dataset_for(superapp, concepts_of(row["cluster_id"]))].id]
        app = by_id[row["app_id"]]
        if row["role"] in MERGING:
            dataset.merged.append(app)
            if row["role"] == "becomes":
                dataset.base = app.app_id
        else:
            dataset.archived.append(app)
    for dataset in found.values():
        holding = dataset.merged or dataset.archived
        dataset.classification = max(
            (a.classification for a in holding), key=ORDER.index, default=Classification.PUBLIC
        )
        dataset.site, dataset.rule = residency(sites.site(dataset.superapp.site), dataset.classification, sites)
        if not dataset.base:  # the super app's base sits in another dataset: its bucket holds this one too
            bases = [d.base for d in found.values() if d.superapp.id == dataset.superapp.id and d.base]
            dataset.base = bases[0] if bases else ""
    return list(found.values())


def ckan_package(dataset: CanonicalDataset, sites: SiteModel) -> dict[str, Any]:
    """A CKAN ``package_create`` body (DCAT-style extras) for one canonical dataset."""
    public = dataset.classification == Classification.PUBLIC
    endpoint = sites.site(dataset.site).object_storage.endpoint.rstrip("/")
    superapp = dataset.superapp
    notes = (
        f"Canonical dataset of {superapp.name} ({superapp.description or superapp.id}). "
        f"Merges the data of {len(dataset.merged)} legacy applications ({dataset.data_gb} GB); "
        f"{len(dataset.archived)} retired applications are archived with it. "
        f"Classification {dataset.classification.value}, kept on site {dataset.site}: {dataset.rule}."
    )
    extras = {
        "publisher": dataset.owner,  # dct:publisher
        "access_rights": "public" if public else "non-public",  # dct:accessRights
        "conforms_to": "Perpres 39/2019 Satu Data Indonesia",  # dct:conformsTo
        "classification": dataset.classification.value,
        "residency_site": dataset.site,
        "residency_rule": dataset.rule,
        "super_app": superapp.id,
        "priority_services": ";".join(superapp.priority_services),
        "building_blocks": ";".join(superapp.building_blocks),
        "sources": ";".join(superapp.sources),
        "legacy_apps": ";".join(app.app_id for app in dataset.merged),
        "archived_apps": ";".join(app.app_id for app in dataset.archived),
        "legacy_apps_count": str(len(dataset.merged)),
    }
    resources = []
    if dataset.base:
        resources.append(
            {
                "name": f"{dataset.title}: migrated store",
                "url": f"{endpoint}/{bucket_name(dataset.base)}",
                "format": "S3",
                "description": f"object store of {superapp.name} on {dataset.site} (base application {dataset.base})",
            }
        )
    return {
        "name": ckan_name(dataset.id),
        "title": dataset.title,
        "owner_org": ckan_name(dataset.owner),
        "notes": notes,
        "private": not public,
        "license_id": "cc-by" if public else "other-closed",
        "maintainer": dataset.owner,
        "version": "1.0",
        "tags": [{"name": tag} for tag in dict.fromkeys([superapp.id, *dataset.concepts])],
        "extras": [{"key": key, "value": value} for key, value in extras.items()],
        "resources": resources,
    }


def run(
    apps: Sequence[App], decisions: Sequence[Mapping[str, str]], catalog: Catalog, sites: SiteModel, out: Path
) -> dict[str, int]:
    """Write ``datasets.csv``, ``dataset_sources.csv`` and ``ckan/*.json``; returns counts."""
    datasets = build(apps, decisions, catalog, sites)
    write_csv(
        out / DATASETS,
        HEADER,
        (
            (
                d.id,
                ckan_name(d.id),
                d.superapp.id,
                d.title,
                d.owner,
                d.classification.value,
                d.site,
                d.rule,
                len(d.merged),
                len(d.archived),
                d.data_gb,
            )
            for d in datasets
        ),
    )
    write_csv(
        out / LINEAGE,
        ("dataset", "app_id", "role", "classification", "data_gb"),
        (
            (d.id, app.app_id, role, app.classification.value, app.data_gb)
            for d in datasets
            for role, group in (("merged", d.merged), ("archived", d.archived))
            for app in group
        ),
    )
    folder = out / CKAN
    wanted = {f"{ckan_name(d.id)}.json" for d in datasets}
    for stale in folder.glob("*.json") if folder.is_dir() else ():
        if stale.name not in wanted:  # a dataset the catalog no longer has
            stale.unlink()
    for d in datasets:
        atomic_write(
            folder / f"{ckan_name(d.id)}.json", json.dumps(ckan_package(d, sites), indent=1, ensure_ascii=False) + "\n"
        )
    return {"datasets": len(datasets), "legacy apps merged": sum(len(d.merged) for d in datasets)}


def of_app(out: Path, app_id: str) -> list[dict[str, str]]:
    """The datasets an app's data goes to (for ``pdn migrate show``)."""
    from pdn.migrate.workspace import read_csv

    lineage, table = out / LINEAGE, out / DATASETS
    if not lineage.is_file() or not table.is_file():
        return []
    described = {row["dataset"]: row for row in read_csv(table, "consolidate")}
    return [
        {
            "dataset": row["dataset"],
            "role": row["role"],
            "title": described[row["dataset"]]["title"],
            "owner": described[row["dataset"]]["owner"],
            "classification": described[row["dataset"]]["classification"],
            "residency_site": described[row["dataset"]]["residency_site"],
            "ckan": f"{CKAN}/{described[row['dataset']]['ckan_name']}.json",
        }
        for row in read_csv(lineage, "consolidate")
        if row["app_id"] == app_id and row["dataset"] in described
    ]
