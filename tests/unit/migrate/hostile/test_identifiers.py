"""Identifiers are validated at the door, and every derived name is valid for any input."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from hostile_kit import AS_OF, Outcome, read_rows, set_cell, tree, written_outside

from pdn import naming
from pdn.safeload import load_yaml

DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")  # RFC 1123: namespaces
DNS_1035 = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")  # object names such as Services
LABEL_VALUE = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]")
BUCKET = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")

# The issue's own attack: a multi-line app_id that replaces the object's metadata and spec.
ESCAPE_ID = (
    "APP-X\n"
    "  namespace: kube-system\n"
    "spec:\n"
    "  template:\n"
    "    spec:\n"
    "      hostNetwork: true\n"
    "      containers: [{name: x, image: busybox, securityContext: {privileged: true}}]\n"
    "      volumes: [{name: root, hostPath: {path: /}}]"
)


@pytest.mark.parametrize(
    "bad",
    [ESCAPE_ID, "../../../tmp/pdn-escape", "agency/app", "APP 1", "-APP", "APP-", "a" * 64, "APP\u202e1", "."],
)
def test_an_app_id_that_is_no_identifier_is_refused_with_file_line_field(
    pdn: Callable[..., Outcome], inventory: Path, tmp_path: Path, bad: str
) -> None:
    app_file = inventory / "inventory.csv"
    line = set_cell(app_file, "APP-000010", "app_id", bad)
    out = tmp_path / "out"
    before = tree(tmp_path)
    for command in (["validate"], ["run", "--no-chart", "--as-of", AS_OF], ["render"]):
        result = pdn("migrate", *command, "-i", inventory, "-o", out)
        assert result.code == 2, (command, result.text)
        assert f"{app_file}:{line}: app_id: " in result.err, result.err
        assert "Traceback" not in result.text
    assert written_outside(tmp_path, out, before) == set()
    assert not (out / "manifests").exists() and not (out / "plan.csv").exists()


def test_two_apps_that_would_share_a_bucket_or_folder_name_both_lines(
    pdn: Callable[..., Outcome], inventory: Path, tmp_path: Path
) -> None:
    app_file = inventory / "inventory.csv"
    case = set_cell(app_file, "APP-000011", "app_id", "app-000012")  # only the case differs from APP-000012
    dash = set_cell(app_file, "APP-000013", "app_id", "APP_000014")  # '_' for '-': one bucket mig-app-000014
    result = pdn("migrate", "validate", "-i", inventory, "-o", tmp_path / "out")
    assert result.code == 2
    # the later row is named, with the line of the first
    shared = "would share the bucket"
    assert f"{app_file}:{case + 1}: app_id: 'APP-000012' and 'app-000012' (line {case}) {shared}" in result.err
    assert f"{app_file}:{dash + 1}: app_id: 'APP-000014' and 'APP_000014' (line {dash}) {shared}" in result.err


def test_hostile_owners_and_true_still_give_valid_names(
    pdn: Callable[..., Outcome], inventory: Path, tmp_path: Path
) -> None:
    """An agency in another script, one of punctuation only, one of 300 characters, and the app id
    ``true``: every namespace, name and label is valid, never empty, and every label is a string."""
    app_file = inventory / "inventory.csv"
    out = tmp_path / "out"
    assert pdn("migrate", "run", "--no-chart", "--as-of", AS_OF, "-i", inventory, "-o", out).code == 0
    planned = {row[0] for row in read_rows(out / "plan.csv")[1] if row[6] in ("rehost", "replatform", "refactor")}
    chosen = sorted(planned)[:4]
    assert len(chosen) == 4, planned
    set_cell(app_file, chosen[0], "agency", "Министерство цифрового развития")
    set_cell(app_file, chosen[1], "agency", "--- {{ }} {% %} ---")
    set_cell(app_file, chosen[2], "agency", "Dinas " * 50)
    set_cell(app_file, chosen[3], "app_id", "true")
    result = pdn("migrate", "run", "--no-chart", "--as-of", AS_OF, "-i", inventory, "-o", out)
    assert result.code == 0, result.text
    assert pdn("migrate", "render", "-i", inventory, "-o", out).code == 0
    namespaces: dict[str, str] = {}
    for path in sorted((out / "manifests").glob("*/*.yaml")):
        doc = load_yaml(path)
        meta = doc["metadata"]
        namespaces[path.parent.name] = meta["namespace"]
        assert DNS_LABEL.fullmatch(meta["namespace"]) and meta["namespace"].startswith("tenant-")
        assert len(meta["namespace"]) > len("tenant-")
        assert DNS_1035.fullmatch(meta["name"]) and len(meta["name"]) <= 63, meta["name"]
        for value in meta["labels"].values():
            assert isinstance(value, str) and LABEL_VALUE.fullmatch(value), (path, meta["labels"])
    assert namespaces[chosen[0]].startswith("tenant-ministerstvo-tsifrovogo-razvitiya")
    assert namespaces[chosen[1]] != namespaces[chosen[2]]
    true_labels = load_yaml(out / "manifests" / "true" / "service.yaml")["metadata"]["labels"]
    assert true_labels["pdn.go.id/legacy-app"] == "true"  # the string, not the boolean
    tenants = load_yaml(out / "tenants.yaml")
    names = {tenant["name"] for entries in tenants.values() for tenant in entries}
    assert "Министерство цифрового развития" in names and "--- {{ }} {% %} ---" in names


OWNERS = ["Dinas Kesehatan", "Министерство", "北京市人民政府", "وزارة الصحة", "😀😀", "", "---", "{{ }}", "\n"]
OWNERS += ["../..", "x" * 10_000]


@pytest.mark.parametrize("owner", OWNERS)
def test_each_derived_name_is_valid_for_any_input(owner: str) -> None:
    namespace = naming.tenant_namespace(owner)
    assert DNS_LABEL.fullmatch(namespace) and namespace.startswith("tenant-") and len(namespace) > len("tenant-")
    assert LABEL_VALUE.fullmatch(naming.tenant_slug(owner)) and len(naming.tenant_slug(owner)) <= 56
    assert BUCKET.fullmatch(naming.bucket_name(owner)) and not naming.bucket_name(owner).startswith("xn--")
    assert DNS_1035.fullmatch(naming.resource_name(owner)) and len(naming.resource_name(owner)) <= 40
    assert LABEL_VALUE.fullmatch(naming.label_value(owner))
    folder = naming.app_folder(owner)
    assert folder not in (".", "..") and "/" not in folder and "\x00" not in folder and 0 < len(folder) <= 63
    assert naming.tenant_namespace(owner) == namespace  # stable


def test_names_cut_to_length_stay_distinct() -> None:
    long = "Pemerintah Kabupaten Kepulauan Siau Tagulandang Biaro Dinas Pendidikan dan Kebudayaan"
    other = long.replace("Kebudayaan", "Olahraga")
    assert naming.tenant_namespace(long) != naming.tenant_namespace(other)
    assert len(naming.tenant_namespace(long)) <= 63


def test_the_platform_names_a_tenant_namespace_as_migrate_does() -> None:
    """One rule: the stacks' Tenant and ``pdn migrate render`` agree, also past 56 characters."""
    import sys

    from pdn import paths
    from pdn.migrate.render import namespace_of

    if str(paths.repo_root() / "infra") not in sys.path:
        sys.path.insert(0, str(paths.repo_root() / "infra"))
    from pdn_infra import labels
    from pdn_infra.settings import TenantConfig

    long = "Badan Penyelenggara Jaminan Sosial Ketenagakerjaan Provinsi Kepulauan Bangka Belitung"
    tenant = TenantConfig(name=long, kind="agency", tier="high", classification="internal")
    assert labels.tenant_namespace(long) == f"tenant-{tenant.slug}" == naming.tenant_namespace(long)
    assert len(labels.tenant_namespace(long)) <= 63

    class Owner:
        agency = long

    assert namespace_of(Owner(), "") == labels.tenant_namespace(long)  # type: ignore[arg-type]
