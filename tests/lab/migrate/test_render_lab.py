"""render against a real kube-apiserver: server-side dry-run accepts every manifest, and the
namespace's Pod Security 'restricted' admission rejects a pod that breaks the profile."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from pdn.migrate import inventory
from pdn.migrate import render as render_stage
from pdn.migrate.consolidate import load_catalog
from pdn.sites import load_sites

SITE = "cikarang"


def kubectl_binary() -> str:
    """The toolchain's kubectl (pinned with the API server); a kubectl on PATH until it is built."""
    from pdn.errors import PdnError
    from pdn.toolchain import resolve

    try:
        return str(resolve("kubectl"))
    except PdnError:
        found = shutil.which("kubectl")
        if found is None:
            pytest.fail("kubectl missing: run `pdn toolchain build kubectl`", pytrace=False)
        return found


def kubectl(kubeconfig: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [kubectl_binary(), f"--kubeconfig={kubeconfig}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def rendered(
    lab: Any, planned: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, list[Path]]]:
    inv_dir, out = planned
    apps = inventory.load(inv_dir).apps
    sites = load_sites()
    catalog, _ = load_catalog(None, sites)
    names = {item.id: item.name for item in catalog.superapps}
    import csv

    with (out / "plan.csv").open(newline="", encoding="utf-8") as handle:
        plan_rows = [row for row in csv.DictReader(handle) if row["site"] == SITE]
    target = tmp_path_factory.mktemp("render")
    folders = render_stage.run(apps, plan_rows, names, sites, target)
    kubeconfig = lab.kubeconfig_path(SITE)
    namespaces = sorted({yaml.safe_load((f / "service.yaml").read_text())["metadata"]["namespace"] for f in folders})
    created: list[str] = []
    for name in namespaces:
        if kubectl(kubeconfig, "get", "namespace", name).returncode != 0:
            manifest = {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {
                    "name": name,
                    "labels": {
                        "pod-security.kubernetes.io/enforce": "restricted",
                        "pdn.go.id/tenant": name.removeprefix("tenant-"),
                    },
                },
            }
            result = kubectl(kubeconfig, "create", "-f", "-", stdin=yaml.safe_dump(manifest))
            assert result.returncode == 0, result.stderr
            created.append(name)
        else:
            kubectl(
                kubeconfig, "label", "--overwrite", "namespace", name, "pod-security.kubernetes.io/enforce=restricted"
            )
    yield kubeconfig, folders
    for name in created:
        kubectl(kubeconfig, "delete", "namespace", name, "--wait=false")


def test_server_side_dry_run_accepts_every_manifest(rendered: tuple[Path, list[Path]]) -> None:
    kubeconfig, folders = rendered
    assert len(folders) >= 10
    kinds: set[str] = set()
    for folder in folders:
        result = kubectl(
            kubeconfig,
            "apply",
            "--server-side",
            "--dry-run=server",
            "--field-manager=pdn-migrate-test",
            "-f",
            str(folder),
        )
        assert result.returncode == 0, f"{folder.name}: {result.stderr}"
        assert "Warning" not in result.stderr, result.stderr  # PSA warnings would show here
        kinds |= {yaml.safe_load(p.read_text())["kind"] for p in folder.glob("*.yaml")}
    assert {"Deployment", "StatefulSet", "Service", "ConfigMap", "NetworkPolicy", "PersistentVolumeClaim"} <= kinds


def test_restricted_admission_is_really_enforced(rendered: tuple[Path, list[Path]]) -> None:
    kubeconfig, folders = rendered
    workload = next(f / "workload.yaml" for f in folders if (f / "workload.yaml").is_file())
    doc = yaml.safe_load(workload.read_text())
    container = doc["spec"]["template"]["spec"]["containers"][0]
    container["securityContext"]["allowPrivilegeEscalation"] = True
    container["securityContext"]["privileged"] = True
    result = kubectl(kubeconfig, "apply", "--server-side", "--dry-run=server", "-f", "-", stdin=yaml.safe_dump(doc))
    # Deployments/StatefulSets are admitted with a warning; the pod itself is rejected
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "psa-probe", "namespace": doc["metadata"]["namespace"]},
        "spec": doc["spec"]["template"]["spec"],
    }
    pod["spec"].pop("volumes", None)
    container.pop("volumeMounts", None)
    rejected = kubectl(kubeconfig, "apply", "--dry-run=server", "-f", "-", stdin=yaml.safe_dump(pod))
    assert rejected.returncode != 0 and "restricted" in rejected.stderr, rejected.stderr
    assert "would violate PodSecurity" in result.stderr
    good = yaml.safe_load(workload.read_text())
    good_spec: dict[str, Any] = {**good["spec"]["template"]["spec"]}
    good_spec["volumes"] = [{"name": "tmp", "emptyDir": {}}, {"name": "data", "emptyDir": {}}]
    good_pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "psa-probe", "namespace": good["metadata"]["namespace"]},
        "spec": good_spec,
    }
    accepted = kubectl(kubeconfig, "apply", "--dry-run=server", "-f", "-", stdin=yaml.safe_dump(good_pod))
    assert accepted.returncode == 0, accepted.stderr
