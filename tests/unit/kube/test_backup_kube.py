"""The backup area's Kubernetes calls go through pdn.kube, and its waits through pdn.wait."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest

from pdn.backup import kube, velero
from pdn.errors import PdnError
from pdn.lab import endpoints
from pdn.sites import load_sites
from pdn.wait import WaitTimeout

CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


@pytest.fixture
def site(fake_api: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("PDN_LAB_DIR", str(tmp_path / "lab"))
    site_id = load_sites().ids[0]
    path = endpoints.kubeconfig_path(site_id)
    path.parent.mkdir(parents=True)
    path.write_text(fake_api.kubeconfig(tmp_path).read_text())
    return site_id


def fake_velero(tmp_path: Path, crds: list[str]) -> str:
    """A stand-in for `velero install --crds-only --dry-run -o json` that prints these CRDs."""
    items = [{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
              "metadata": {"name": name}} for name in crds]  # fmt: skip
    script = tmp_path / "velero"
    script.write_text(f"#!/bin/sh\ncat <<'EOF'\n{json.dumps({'kind': 'List', 'items': items})}\nEOF\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


def test_a_crd_that_never_becomes_established_fails_the_wait_clearly(
    site: str, fake_api: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It used to give up silently after 30 s and go on as if the CRD were there."""
    monkeypatch.setattr(velero, "CRD_TIMEOUT", 0.5)
    with pytest.raises(WaitTimeout) as caught:
        velero.ensure_crds(site, fake_velero(tmp_path, ["backups.velero.io"]))
    assert f"waiting for {site}'s CRD backups.velero.io to be Established" in str(caught.value)
    assert "last seen: conditions none" in str(caught.value)


def test_established_crds_are_created_once(site: str, fake_api: Any, tmp_path: Path) -> None:
    binary = fake_velero(tmp_path, ["backups.velero.io", "restores.velero.io"])
    fake_api.objects[f"{CRDS}/restores.velero.io"] = {"metadata": {"name": "restores.velero.io"}}
    established = {"conditions": [{"type": "Established", "status": "True"}]}
    fake_api.on_create = lambda path, body: {**body, "status": established} if path.startswith(CRDS) else body
    assert velero.ensure_crds(site, binary) == ["backups.velero.io"]
    created = fake_api.objects[f"{CRDS}/backups.velero.io"]
    assert created["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "pdn-backup"}
    assert velero.ensure_crds(site, binary) == []


def test_create_keeps_existing_objects_and_names_a_refusal(site: str, fake_api: Any) -> None:
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "tenant-a"}}
    kube.create(site, namespace)
    kube.create(site, namespace)  # exists: kept, no error
    assert kube.namespace(site, "tenant-a") == {**namespace, "kind": "Namespace", "apiVersion": "v1"}
    fake_api.fail["/api/v1/namespaces/team/configmaps"] = (422, "ConfigMap is invalid: data too long")
    with pytest.raises(PdnError, match=r"creating ConfigMap/c failed: .*422.*data too long"):
        kube.create(site, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "team"}})
    assert kube.delete_namespace(site, "tenant-a") is True
    assert kube.delete_namespace(site, "tenant-a") is False
    assert kube.reachable(site) is None
