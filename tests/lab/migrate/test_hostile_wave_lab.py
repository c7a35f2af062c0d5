"""A hostile inventory's wave, applied for real to the lab's API servers: nothing lands outside the
tenant namespaces, and every pod the API server admits meets Pod Security ``restricted``.

The inventory carries the values that used to escape (an agency name holding ``namespace:
kube-system`` and ``hostNetwork: true``, YAML document and flow syntax, another script, the app id
``true``); the manifests are applied server-side into tenant namespaces that enforce
``restricted``, as the stacks create them.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_render_lab import kubectl

from pdn.migrate.generate import generate
from pdn.migrate.render import RENDERED
from pdn.safeload import load_yaml

AGENCIES = [
    "Dinas Kominfo namespace: kube-system hostNetwork: true",
    "--- {kind: Pod, metadata: {namespace: kube-system}} ---",
    "Министерство цифрового развития",
    "&anchor *alias {{ a.namespace }} {% raw %}",
]
KINDS = "configmaps,services,networkpolicies,persistentvolumeclaims,deployments,statefulsets,pods"


def _run(*args: str | Path) -> None:
    from pdn.cli import app as cli

    cli([str(arg) for arg in args], standalone_mode=False)


@pytest.fixture(scope="module")
def hostile_wave(lab: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, list[Path]]]]:
    folder = tmp_path_factory.mktemp("hostile-inventory")
    out = tmp_path_factory.mktemp("hostile-out")
    generate(folder, apps=300, datacenters=40, seed=5)
    _run("migrate", "run", "--no-chart", "--as-of", "2026-11-01", "-i", folder, "-o", out)
    path = folder / "inventory.csv"
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    header = rows[0]
    with (out / "plan.csv").open(newline="", encoding="utf-8") as handle:
        planned = [r for r in csv.DictReader(handle) if r["wave"] == "1"]
    wave1 = {r["app_id"] for r in planned}
    renamed = {min(r["app_id"] for r in planned if r["move_type"] in RENDERED): "true"}
    for index, row in enumerate(rows[1:]):
        if row[0] in wave1:
            row[header.index("agency")] = AGENCIES[index % len(AGENCIES)]
        row[0] = renamed.get(row[0], row[0])
        deps = row[header.index("depends_on")].split(";")
        row[header.index("depends_on")] = ";".join(renamed.get(dep, dep) for dep in deps)
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")
    shutil.rmtree(out)
    _run("migrate", "run", "--no-chart", "--as-of", "2026-11-01", "-i", folder, "-o", out)
    _run("migrate", "render", "--wave", "1", "-i", folder, "-o", out)
    with (out / "plan.csv").open(newline="", encoding="utf-8") as handle:
        site_of = {r["app_id"]: r["site"] for r in csv.DictReader(handle)}
    by_site: dict[str, list[Path]] = {}
    for manifests in sorted((out / "manifests").iterdir()):  # the sites of this session's lab
        if site_of[manifests.name] in lab.sites:
            by_site.setdefault(site_of[manifests.name], []).append(manifests)
    created: dict[str, list[str]] = {}
    for site, folders in by_site.items():
        kubeconfig = lab.kubeconfig_path(site)
        for namespace in sorted({load_yaml(f / "service.yaml")["metadata"]["namespace"] for f in folders}):
            if kubectl(kubeconfig, "get", "namespace", namespace).returncode == 0:
                continue
            manifest = {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": namespace, "labels": {"pod-security.kubernetes.io/enforce": "restricted"}},
            }
            result = kubectl(kubeconfig, "create", "-f", "-", stdin=json.dumps(manifest))
            assert result.returncode == 0, result.stderr
            created.setdefault(site, []).append(namespace)
        for manifests in folders:
            applied = kubectl(
                kubeconfig, "apply", "--server-side", "--field-manager=pdn-hostile-test", "-f", str(manifests)
            )
            assert applied.returncode == 0, f"{manifests.name}: {applied.stderr}"
    yield out, by_site
    for site, namespaces in created.items():
        for namespace in namespaces:
            kubectl(lab.kubeconfig_path(site), "delete", "namespace", namespace, "--wait=false")


def test_nothing_of_a_hostile_wave_lands_outside_tenant_namespaces(
    lab: Any, hostile_wave: tuple[Path, dict[str, list[Path]]]
) -> None:
    out, by_site = hostile_wave
    assert sum(len(folders) for folders in by_site.values()) >= 3
    assert (out / "manifests" / "true").is_dir()  # the app id YAML would read as a boolean
    for site, folders in by_site.items():
        kubeconfig = lab.kubeconfig_path(site)
        expected = {load_yaml(f / "service.yaml")["metadata"]["namespace"] for f in folders}
        listed = kubectl(kubeconfig, "get", KINDS, "--all-namespaces", "-o", "json")
        assert listed.returncode == 0, listed.stderr
        ours = [
            item
            for item in json.loads(listed.stdout)["items"]
            if item["metadata"].get("labels", {}).get("app.kubernetes.io/managed-by") == "pdn-migrate"
            or item["metadata"].get("namespace") in expected
        ]
        assert ours
        for item in ours:
            namespace = item["metadata"]["namespace"]
            assert namespace in expected and namespace.startswith("tenant-"), (item["kind"], namespace)
            spec = item.get("spec", {})
            pod = spec.get("template", {}).get("spec", spec) if item["kind"] != "Pod" else spec
            for key in ("hostNetwork", "hostPID", "hostIPC"):
                assert not pod.get(key), (item["kind"], item["metadata"]["name"], key)
            assert not any("hostPath" in volume for volume in pod.get("volumes", []))
        cluster_scoped = kubectl(kubeconfig, "get", "clusterroles,clusterrolebindings,namespaces", "-o", "json")
        for item in json.loads(cluster_scoped.stdout)["items"]:
            assert item["metadata"].get("labels", {}).get("app.kubernetes.io/managed-by") != "pdn-migrate"
        system = kubectl(
            kubeconfig, "get", KINDS, "-n", "kube-system", "-l", "app.kubernetes.io/managed-by=pdn-migrate"
        )
        assert "No resources found" in system.stderr + system.stdout
