"""runbook and render: every wave documented; manifests valid and Pod Security 'restricted'."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from pdn.migrate import inventory
from pdn.migrate import render as render_stage
from pdn.migrate import runbook as runbook_stage
from pdn.migrate.consolidate import load_catalog
from pdn.migrate.workspace import read_csv
from pdn.sites import load_sites
from pdn.sites.model import slug

RESTRICTED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}


def restricted_violations(pod: dict[str, Any]) -> list[str]:
    """The checks of the Kubernetes 'restricted' Pod Security profile (v1.34) on a pod spec."""
    problems: list[str] = []
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(key):
            problems.append(key)
    pod_sc = pod.get("securityContext", {})
    for volume in pod.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUMES:
            problems.append(f"volume {volume['name']}: {kinds}")
    for container in pod.get("containers", []) + pod.get("initContainers", []):
        sc = container.get("securityContext", {})
        if sc.get("privileged"):
            problems.append("privileged")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append("allowPrivilegeEscalation must be false")
        if not (sc.get("runAsNonRoot") or pod_sc.get("runAsNonRoot")):
            problems.append("runAsNonRoot")
        if sc.get("runAsUser", pod_sc.get("runAsUser")) == 0:
            problems.append("runAsUser 0")
        caps = sc.get("capabilities", {})
        if "ALL" not in caps.get("drop", []):
            problems.append("capabilities must drop ALL")
        if set(caps.get("add", [])) - {"NET_BIND_SERVICE"}:
            problems.append("capabilities add")
        seccomp = sc.get("seccompProfile", pod_sc.get("seccompProfile", {})).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            problems.append("seccompProfile")
        for port in container.get("ports", []):
            if "hostPort" in port:
                problems.append("hostPort")
    return problems


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
        docs = [
            yaml.load(p.read_text(encoding="utf-8"), Loader=render_stage.SAFE_LOADER)
            for p in sorted(folder.glob("*.yaml"))
        ]
        kinds = {d["kind"] for d in docs}
        kinds_seen |= kinds
        assert {"ConfigMap", "Service", "NetworkPolicy"} <= kinds
        assert ("Deployment" in kinds and "PersistentVolumeClaim" in kinds) or "StatefulSet" in kinds
        owner = names[row["super_app"]] if row["super_app"] else app.agency
        for doc in docs:
            meta = doc["metadata"]
            assert meta["namespace"] == ("tenant-" + slug(owner))[:63].strip("-")
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
