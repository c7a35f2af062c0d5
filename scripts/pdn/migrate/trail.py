"""``pdn migrate show APP``: everything decided about one application, from every stage's output."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pdn.errors import InputError
from pdn.migrate.schema import App
from pdn.migrate.workspace import (
    ASSESSMENT,
    CLUSTERS,
    CONSOLIDATION,
    COPY_LEDGERS,
    MANIFESTS,
    PLAN_APPS,
    RUNBOOKS,
    read_csv,
)
from pdn.naming import app_folder


def _row(path: Path, app_id: str) -> dict[str, str] | None:
    if not path.is_file():
        return None
    return next((row for row in read_csv(path, "the pipeline") if row.get("app_id") == app_id), None)


def _cluster_size(path: Path, cluster_id: str) -> list[str]:
    return [row["app_id"] for row in read_csv(path, "dedup") if row["cluster_id"] == cluster_id]


def trail(app: App, out: Path) -> dict[str, Any]:
    """Sections in pipeline order; a missing stage says which command produces it."""
    sections: dict[str, Any] = {
        "inventory": {
            "name": app.name,
            "agency": app.agency,
            "province": app.province,
            "legacy_dc": app.legacy_dc,
            "stack": ";".join(app.tech_stack),
            "runtime": app.runtime.value,
            "data_gb": app.data_gb,
            "users/month": app.monthly_users,
            "classification": app.classification.value,
            "criticality": app.criticality.value,
            "status": app.status.value,
            "depends_on": ";".join(app.depends_on) or "-",
            **app.extra,
        }
    }
    sections["assess"] = _row(out / ASSESSMENT, app.app_id) or "not run: pdn migrate assess"
    cluster = _row(out / CLUSTERS, app.app_id)
    if cluster:
        peers = _cluster_size(out / CLUSTERS, cluster["cluster_id"])
        cluster = {**cluster, "same_function_examples": ", ".join(p for p in peers[:6] if p != app.app_id)}
    sections["dedup"] = cluster or "not run: pdn migrate dedup"
    sections["consolidate"] = _row(out / CONSOLIDATION, app.app_id) or "not run: pdn migrate consolidate"
    from pdn.migrate.datasets import of_app

    sections["datasets"] = {
        f"{d['dataset']} ({d['role']})": f"{d['title']}; owner {d['owner']}; {d['classification']} on "
        f"{d['residency_site']}; {d['ckan']}"
        for d in of_app(out, app.app_id)
    } or "no canonical dataset (standalone app, or consolidate not run)"
    planned = _row(out / PLAN_APPS, app.app_id)
    sections["plan"] = planned or "not in the plan (retired/retained) or plan not run"
    if planned:
        runbook = out / RUNBOOKS / f"wave-{int(planned['wave']):03d}.md"
        sections["runbook"] = str(runbook) if runbook.is_file() else "not run: pdn migrate runbook"
    manifests = out / MANIFESTS / app_folder(app.app_id)
    sections["render"] = (
        ", ".join(sorted(p.name for p in manifests.glob("*.yaml"))) if manifests.is_dir() else "no manifests"
    )
    ledger = out / COPY_LEDGERS / f"{app_folder(app.app_id)}.sqlite"
    if ledger.is_file():
        from pdn.migrate.ledger import Ledger

        with Ledger(ledger, exclusive=False) as book:
            sections["copy/verify"] = book.summary()
    else:
        sections["copy/verify"] = "no copy yet: pdn migrate copy"
    return sections


def find(apps: list[App], app_id: str) -> App:
    for app in apps:
        if app.app_id == app_id:
            return app
    raise InputError(f"no application {app_id!r} in the inventory", hint="app ids look like the app_id column")
