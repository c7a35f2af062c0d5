"""``pdn migrate consolidate``: map duplicate families to super apps, for human sign-off.

A cluster belongs to the super app sharing most of its concepts (catalog order breaks ties).
In each super app the strongest app (active, most users, best readiness, national agencies
first) *becomes* the base; every other active app with enough users *joins* it (its data is
migrated in); idle or little-used apps are *retired into* it (data archived). Apps whose
function has no super app stay *standalone* with their assessed action.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pdn.errors import InputError
from pdn.migrate.catalog import Catalog, SuperApp, load_catalog
from pdn.migrate.schema import App, Status
from pdn.migrate.workspace import CATALOG_USED, CONSOLIDATION, atomic_write, write_csv
from pdn.sites.model import SiteModel

__all__ = ["Catalog", "Decision", "SuperApp", "consolidate", "load_catalog", "match", "run"]

HEADER = ("app_id", "cluster_id", "super_app", "role", "action", "site", "evidence", "approved_by")
AGENCY_RANK = {"ministry": 0, "agency": 1, "province": 2, "city": 3, "regency": 4}


@dataclass(frozen=True, slots=True)
class Decision:
    app_id: str
    cluster_id: str
    super_app: str
    role: str  # becomes | joins | retired-into | standalone
    action: str  # final 6R
    site: str  # super app site, empty for standalone (placed by plan)
    evidence: str


def concepts_of(cluster_id: str) -> set[str]:
    return set(cluster_id[3:].split("-")) if cluster_id.startswith("fn-") else set()


def match(cluster_id: str, catalog: Catalog) -> SuperApp | None:
    concepts = concepts_of(cluster_id)
    best: tuple[int, int] | None = None
    chosen: SuperApp | None = None
    for order, superapp in enumerate(catalog.superapps):
        overlap = len(concepts & set(superapp.concepts))
        if overlap and (best is None or (overlap, -order) > best):
            best, chosen = (overlap, -order), superapp
    return chosen


def consolidate(
    apps: Sequence[App],
    clusters: Mapping[str, Mapping[str, str]],
    assessment: Mapping[str, Mapping[str, str]],
    catalog: Catalog,
) -> list[Decision]:
    members: dict[str, list[App]] = {}
    target: dict[str, SuperApp | None] = {}
    for app in apps:
        cluster = clusters[app.app_id]["cluster_id"]
        superapp = match(cluster, catalog)
        target[app.app_id] = superapp
        if superapp is not None:
            members.setdefault(superapp.id, []).append(app)

    def strength(app: App) -> tuple[Any, ...]:
        return (
            app.status != Status.ACTIVE,
            AGENCY_RANK[app.agency_type.value],
            -int(assessment[app.app_id]["readiness"]),
            -app.monthly_users,
            app.app_id,
        )

    bases = {sid: min(group, key=strength).app_id for sid, group in members.items()}
    decisions: list[Decision] = []
    for app in apps:
        row = clusters[app.app_id]
        superapp = target[app.app_id]
        assessed = assessment[app.app_id]
        evidence = f"cluster {row['cluster_id']} ({row['method']}, confidence {row['confidence']}): {row['evidence']}"
        if superapp is None:
            decisions.append(
                Decision(
                    app.app_id,
                    row["cluster_id"],
                    "",
                    "standalone",
                    assessed["action"],
                    "",
                    f"no super app for this function; {assessed['rationale']}",
                )
            )
        elif bases[superapp.id] == app.app_id:
            decisions.append(
                Decision(
                    app.app_id,
                    row["cluster_id"],
                    superapp.id,
                    "becomes",
                    "refactor",
                    superapp.site,
                    f"strongest of {len(members[superapp.id])} apps (agency {app.agency_type}, "
                    f"readiness {assessed['readiness']}, {app.monthly_users} users); {evidence}",
                )
            )
        elif app.status != Status.ACTIVE or app.monthly_users < superapp.min_users:
            decisions.append(
                Decision(
                    app.app_id,
                    row["cluster_id"],
                    superapp.id,
                    "retired-into",
                    "retire",
                    superapp.site,
                    f"{app.status}, {app.monthly_users} users < {superapp.min_users}; {evidence}",
                )
            )
        else:
            decisions.append(
                Decision(
                    app.app_id,
                    row["cluster_id"],
                    superapp.id,
                    "joins",
                    "repurchase",
                    superapp.site,
                    f"data migrates into {superapp.id}; {evidence}",
                )
            )
    return decisions


def run(
    apps: Sequence[App],
    clusters: Mapping[str, Mapping[str, str]],
    assessment: Mapping[str, Mapping[str, str]],
    out: Path,
    sites: SiteModel,
    catalog_file: Path | None = None,
) -> dict[str, int]:
    catalog, text = load_catalog(catalog_file, sites)
    missing = [app.app_id for app in apps if app.app_id not in clusters or app.app_id not in assessment]
    if missing:
        raise InputError(
            f"{len(missing)} apps (e.g. {missing[0]}) have no cluster or assessment",
            hint="re-run `pdn migrate assess` and `pdn migrate dedup` on this inventory",
        )
    decisions = consolidate(apps, clusters, assessment, catalog)
    write_csv(
        out / CONSOLIDATION,
        HEADER,
        ((d.app_id, d.cluster_id, d.super_app, d.role, d.action, d.site, d.evidence, "") for d in decisions),
    )
    atomic_write(out / CATALOG_USED, text)
    counts: dict[str, int] = {}
    for d in decisions:
        counts[d.role] = counts.get(d.role, 0) + 1
    from pdn.migrate import datasets

    rows = [
        {"app_id": d.app_id, "cluster_id": d.cluster_id, "super_app": d.super_app, "role": d.role} for d in decisions
    ]
    counts.update(datasets.run(apps, rows, catalog, sites, out))
    return counts
