"""Manifests are data: a hostile value in any field never adds an object, a field or a file.

Three apps (a Deployment, a StatefulSet that depends on it, a super-app base) are rendered once
with clean values and once with one hostile value in one field, for every field that reaches
render (also those the inventory would refuse: render must hold on its own). The hostile render
must give exactly the clean render's objects: the same files, kinds and names, every object in
its tenant namespace, the same structure of keys, and pods that meet Pod Security ``restricted``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hostile_kit import AS_OF, Outcome, read_rows, set_cell, write_rows
from podsecurity import restricted_violations

from pdn import naming
from pdn.migrate import render
from pdn.migrate.schema import AgencyType, App, Classification, Criticality, Runtime, Status
from pdn.safeload import load_yaml
from pdn.sites import load_sites

HOSTILE = {
    "newlines": "x\n  namespace: kube-system\nspec:\n  template:\n    spec:\n      hostNetwork: true",
    "document": "x\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: evil, namespace: kube-system}\n---\n",
    "jinja": "{{ a.namespace }}{{ 7*7 }} {% for x in range(3) %}{{ x }}{% endfor %} {%- raw %}",
    "flow": "{hostNetwork: true, hostPID: true, privileged: true}",
    "anchor": "&a [*a, *a] <<: *a !!python/object:os.system",
    "host-network": "hostNetwork: true",
    "traversal": "../../../../etc/cron.d/x",
    "long": "A" * 10_000,
    "boolean": "true",
    "octal": "012",
}
FIELDS = ("app_id", "name", "description", "agency", "province", "legacy_dc", "tech_stack", "super_app_name")
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
FORBIDDEN_KEYS = {"hostNetwork", "hostPID", "hostIPC", "hostPath", "privileged", "hostPort"}
SUPER_ID = "SA-KEPEGAWAIAN"


def app(app_id: str, agency: str, stack: tuple[str, ...], depends: tuple[str, ...] = ()) -> App:
    return App(
        app_id, f"Sistem {app_id}", "Aplikasi lama", agency, AgencyType.REGENCY, "Jawa Barat", "DC-00001",
        stack, Runtime.VM, 12.5, 300, Classification.INTERNAL, Criticality.HIGH, depends, Status.ACTIVE,
        dt.date(2020, 1, 1),
    )  # fmt: skip


def case(field: str | None, value: str) -> tuple[list[App], list[dict[str, str]], dict[str, str]]:
    """The three apps, their plan rows and super-app names, with ``value`` in ``field`` of the first."""
    first = app("APP-000001", "Pemerintah Kota Bogor", ("php-7.4",))
    second = app("APP-000002", "Dinas Kesehatan Kota Bogor", ("java-8", "postgresql-12"), ("APP-000001",))
    third = app("APP-000003", "Pemerintah Kabupaten Bogor", ("php-8.1",))
    names = {SUPER_ID: "Sistem Kepegawaian Nasional"}
    if field == "super_app_name":
        names[SUPER_ID] = value
    elif field == "tech_stack":
        first = dataclasses.replace(first, tech_stack=("php-7.4", value))
    elif field == "app_id":
        first = dataclasses.replace(first, app_id=value)
        second = dataclasses.replace(second, depends_on=(value,))
    elif field is not None:
        changes: dict[str, Any] = {field: value}
        first = dataclasses.replace(first, **changes)
    rows = [
        {"app_id": first.app_id, "wave": "1", "site": "cikarang", "move_type": "rehost", "super_app": ""},
        {"app_id": second.app_id, "wave": "1", "site": "cikarang", "move_type": "refactor", "super_app": ""},
        {"app_id": third.app_id, "wave": "1", "site": "batam", "move_type": "becomes", "super_app": SUPER_ID},
    ]
    return [first, second, third], rows, names


def rendered(out: Path, field: str | None, value: str) -> dict[str, dict[str, Any]]:
    """Every file under ``out`` (relative path -> its one YAML object) after rendering the case."""
    apps, rows, names = case(field, value)
    render.run(apps, rows, names, load_sites(), out)
    files = [path for path in out.rglob("*") if path.is_file()]
    return {str(path.relative_to(out)): load_yaml(path) for path in files}


def shape(value: Any) -> Any:
    """The structure of an object: its keys and types, with every string replaced by its kind."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(item) for item in value]
    return type(value).__name__


def keys_anywhere(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {key for item in value.values() for key in keys_anywhere(item)}
    if isinstance(value, list):
        return {key for item in value for key in keys_anywhere(item)}
    return set()


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    return rendered(tmp_path_factory.mktemp("clean"), None, "")


@pytest.mark.parametrize("payload", sorted(HOSTILE))
@pytest.mark.parametrize("field", FIELDS)
def test_a_hostile_value_in_any_field_gives_exactly_the_clean_objects(
    clean: dict[str, dict[str, Any]], tmp_path: Path, field: str, payload: str
) -> None:
    value = HOSTILE[payload]
    out = tmp_path / "out"
    hostile = rendered(out, field, value)
    apps, _, names = case(field, value)
    folder = naming.app_folder(apps[0].app_id)

    def clean_path(path: str) -> str:  # the first app's folder is named after its (hostile) id
        return path.replace(f"manifests/{folder}/", "manifests/APP-000001/", 1)

    assert sorted(clean_path(path) for path in hostile) == sorted(clean)  # the same files, nothing else
    assert all((out / path).resolve().is_relative_to(out.resolve()) for path in hostile)
    namespaces = {
        apps[0].app_id: naming.tenant_namespace(apps[0].agency),
        apps[1].app_id: naming.tenant_namespace(apps[1].agency),
        apps[2].app_id: naming.tenant_namespace(names[SUPER_ID]),
    }
    for path, doc in hostile.items():
        twin = clean[clean_path(path)]
        assert shape(doc) == shape(twin), path  # no field added, removed or changed in type
        assert doc["kind"] == twin["kind"] and doc["apiVersion"] == twin["apiVersion"]
        meta = doc["metadata"]
        owner = meta["labels"]["pdn.go.id/legacy-app"]
        assert meta["namespace"] == namespaces[next(a.app_id for a in apps if naming.label_value(a.app_id) == owner)]
        assert DNS_LABEL.fullmatch(meta["namespace"]) and meta["namespace"].startswith("tenant-")
        assert not FORBIDDEN_KEYS & keys_anywhere(doc), path
        if doc["kind"] in ("Deployment", "StatefulSet"):
            assert restricted_violations(doc["spec"]["template"]["spec"]) == [], path
        if doc["kind"] == "ConfigMap" and owner == naming.label_value(apps[0].app_id):
            assert doc["metadata"]["annotations"] == {
                "pdn.go.id/legacy-name": apps[0].name,
                "pdn.go.id/legacy-dc": apps[0].legacy_dc,
            }
            assert doc["data"]["PDN_LEGACY_APP_ID"] == apps[0].app_id  # the value itself, as data
    kinds = sorted(doc["kind"] for doc in hostile.values())
    assert kinds == sorted(["ConfigMap", "Service", "NetworkPolicy"] * 3 + ["PersistentVolumeClaim"] * 2
                           + ["Deployment"] * 2 + ["StatefulSet"])  # fmt: skip


def test_hostile_values_through_the_cli_give_exactly_the_planned_objects(
    pdn: Callable[..., Outcome], inventory: Path, tmp_path: Path
) -> None:
    """What the inventory accepts in its text fields (one line: ``---``, template, flow and anchor
    syntax, ``hostNetwork: true``, ``../``, 300 characters; 10,000 with line breaks in the
    description) renders exactly the objects the plan calls for, each in its tenant namespace."""
    one_line = ["--- {{ a.namespace }} {% if 1 %}x{% endif %}", "{hostNetwork: true}", "&a *a <<: *a", "../../x"]
    one_line.append("hostNetwork: true " + "x" * 280)
    path = inventory / "inventory.csv"
    out = tmp_path / "out"
    assert pdn("migrate", "run", "--no-chart", "--as-of", AS_OF, "-i", inventory, "-o", out).code == 0
    first = sorted(row[0] for row in read_rows(out / "plan.csv")[1] if row[1] == "1" and row[6] in render.RENDERED)
    for old, new in zip(first, ("true", "012"), strict=False):  # ids that YAML would read as a bool and a number
        set_cell(path, old, "app_id", new)
    header, rows = read_rows(path)
    for index, row in enumerate(rows):
        row[header.index("name")] += " " + one_line[index % 5][:200]
        row[header.index("agency")] += " " + one_line[(index + 1) % 5][:200]
        row[header.index("description")] = ("---\nkind: Pod\n  hostNetwork: true\n" * 400)[:10_000]
        row[header.index("tech_stack")] += ";" + one_line[(index + 2) % 5]
        row[header.index("contact_unit")] = "\n".join(one_line)
    write_rows(path, header, rows)
    assert pdn("migrate", "run", "--no-chart", "--as-of", AS_OF, "-i", inventory, "-o", out).code == 0
    assert pdn("migrate", "render", "--wave", "1", "-i", inventory, "-o", out).code == 0
    planned = {row[0] for row in read_rows(out / "plan.csv")[1] if row[1] == "1" and row[6] in render.RENDERED}
    assert planned and {folder.name for folder in (out / "manifests").iterdir()} == planned
    for folder in (out / "manifests").iterdir():
        docs = {file.name: load_yaml(file) for file in folder.iterdir()}
        workload = docs["workload.yaml"]
        name, namespace = workload["metadata"]["name"], workload["metadata"]["namespace"]
        expected = {
            ("configmap.yaml", "ConfigMap", f"{name}-config"),
            ("service.yaml", "Service", name),
            ("networkpolicy.yaml", "NetworkPolicy", name),
            ("workload.yaml", workload["kind"], name),
        }
        if workload["kind"] == "Deployment":
            expected.add(("pvc.yaml", "PersistentVolumeClaim", f"{name}-data"))
        else:
            assert workload["kind"] == "StatefulSet"
        assert {(file, doc["kind"], doc["metadata"]["name"]) for file, doc in docs.items()} == expected
        assert DNS_LABEL.fullmatch(namespace) and namespace.startswith("tenant-")
        for doc in docs.values():
            assert doc["metadata"]["namespace"] == namespace
            assert all(isinstance(value, str) for value in doc["metadata"]["labels"].values())
            assert doc["metadata"]["labels"]["pdn.go.id/legacy-app"] == folder.name
            assert not FORBIDDEN_KEYS & keys_anywhere(doc)
        assert restricted_violations(workload["spec"]["template"]["spec"]) == []
