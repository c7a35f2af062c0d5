"""runbook and render: every wave documented; manifests valid and Pod Security 'restricted'."""

from __future__ import annotations

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from podsecurity import restricted_violations

from pdn.migrate import inventory
from pdn.migrate import render as render_stage
from pdn.migrate import runbook as runbook_stage
from pdn.migrate.consolidate import load_catalog
from pdn.migrate.workspace import read_csv
from pdn.naming import tenant_namespace
from pdn.safeload import load_yaml
from pdn.sites import load_sites

DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


def test_restricted_checker_catches_violations() -> None:
    bad = {
        "hostNetwork": True,
        "volumes": [{"name": "h", "hostPath": {"path": "/"}}],
        "containers": [{"name": "c", "securityContext": {"privileged": True}}],
    }
    assert len(restricted_violations(bad)) >= 5


def test_runbooks(pipeline: Path, small_inventory: Path, tmp_path: Path) -> None:
    apps = inventory.load(small_inventory).apps
    written = runbook_stage.run(apps, rows(pipeline / "waves.csv"), rows(pipeline / "plan.csv"), tmp_path)
    waves = rows(pipeline / "waves.csv")
    assert len(written) == len(waves)
    first = written[0].read_text(encoding="utf-8")
    wave1 = [r["app_id"] for r in rows(pipeline / "plan.csv") if r["wave"] == "1"]
    assert all(app_id in first for app_id in wave1)
    assert "Rollback" in first and "pdn migrate verify" in first and "Verification evidence" in first


def test_manifests_are_valid_and_restricted(pipeline: Path, small_inventory: Path, tmp_path: Path) -> None:
    apps = inventory.load(small_inventory).apps
    by_id = {a.app_id: a for a in apps}
    sites = load_sites()
    catalog, _ = load_catalog(None, sites)
    names = {item.id: item.name for item in catalog.superapps}
    plan_rows = rows(pipeline / "plan.csv")
    folders = render_stage.run(apps, plan_rows, names, sites, tmp_path)
    rendered = {r["app_id"] for r in plan_rows if r["move_type"] in render_stage.RENDERED}
    assert {f.name for f in folders} == rendered and len(rendered) > 100
    kinds_seen: set[str] = set()
    for folder in folders:
        row = next(r for r in plan_rows if r["app_id"] == folder.name)
        app = by_id[folder.name]
        docs = [load_yaml(p) for p in sorted(folder.glob("*.yaml"))]
        kinds = {d["kind"] for d in docs}
        kinds_seen |= kinds
        assert {"ConfigMap", "Service", "NetworkPolicy"} <= kinds
        assert ("Deployment" in kinds and "PersistentVolumeClaim" in kinds) or "StatefulSet" in kinds
        owner = names[row["super_app"]] if row["super_app"] else app.agency
        for doc in docs:
            meta = doc["metadata"]
            assert meta["namespace"] == tenant_namespace(owner) and DNS_LABEL.fullmatch(meta["namespace"])
            plain = "tenant-" + re.sub(r"[^a-z0-9]+", "-", owner.lower()).strip("-")
            if owner.isascii() and len(plain) <= 63:  # the platform rule, written out independently
                assert meta["namespace"] == plain
            labels = meta["labels"]
            assert labels["pdn.go.id/site"] == row["site"]
            assert labels["pdn.go.id/tier"] == app.criticality.value
            assert labels["pdn.go.id/classification"] == app.classification.value
            assert all(len(v) <= 63 for v in labels.values())
            if doc["kind"] in ("Deployment", "StatefulSet"):
                assert restricted_violations(doc["spec"]["template"]["spec"]) == []
    assert {"Deployment", "StatefulSet"} <= kinds_seen


def rows(path: Path) -> list[dict[str, str]]:
    return read_csv(path, "the pipeline")


def index(path: Path) -> dict[str, dict[str, str]]:
    return {row["app_id"]: row for row in rows(path)}
