"""Every YAML and JSON load is bounded: alias bombs, duplicate keys, FIFOs, huge and deep files.

Each case goes through the command a user would run and must end in one line naming the file
(and the line, where there is one), exit code 2, and nothing written.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from hostile_kit import AS_OF, Outcome, pdn_process, read_rows, tree, write_rows, written_outside

SITES = Path(__file__).resolve().parents[3] / "fixtures" / "sites" / "base.yaml"


def bomb(levels: int, width: int, indent: str = "") -> list[str]:
    """YAML lines defining anchors l0..l<levels-1>, each a list of ``width`` aliases of the one before:
    ``width ** levels`` values once expanded, in a few hundred bytes."""
    lines = [f"{indent}l0: &l0 [{', '.join(['lol'] * width)}]"]
    lines += [f"{indent}l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]" for i in range(1, levels)]
    return lines


# --- the site model (trusted, but a typo or a hand-made file must not silently win or hang) --------


def test_a_duplicate_key_in_the_site_model_is_refused(pdn: Callable[..., Outcome], tmp_path: Path) -> None:
    lines = SITES.read_text(encoding="utf-8").splitlines()
    site = tmp_path / "sites.yaml"
    site.write_text("\n".join([*lines, "schema_version: 1"]) + "\n", encoding="utf-8")
    first = next(n for n, line in enumerate(lines, 1) if line.startswith("schema_version:"))
    result = pdn("sites", "check", "--file", site)
    assert result.code == 2
    assert f"{site}:{len(lines) + 1}: duplicate key 'schema_version' (first on line {first})" in result.err


def test_a_fifo_as_site_model_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "sites.yaml"
    os.mkfifo(fifo)
    result = pdn_process("sites", "check", "--file", fifo, timeout=30)  # the old loader blocked forever
    assert result.code == 2, result.text
    assert f"{fifo}: is not a regular file (it is a FIFO)" in result.err


def test_a_site_model_over_the_size_limit_is_refused(pdn: Callable[..., Outcome], tmp_path: Path) -> None:
    site = tmp_path / "sites.yaml"
    padding = ("# " + "x" * 98 + "\n") * 90_000  # 9 MB of comments around a valid model
    site.write_text(SITES.read_text(encoding="utf-8") + padding, encoding="utf-8")
    result = pdn("sites", "check", "--file", site)
    assert result.code == 2
    assert f"{site}: is {site.stat().st_size:,} bytes; the limit is 8,388,608" in result.err


# --- configuration the migration reads: blackouts, catalogs, tenants files -----------------------------


@pytest.fixture
def planned(pdn: Callable[..., Outcome], inventory: Path, tmp_path: Path) -> Path:
    out = tmp_path / "out"
    assert pdn("migrate", "run", "--no-chart", "--as-of", AS_OF, "-i", inventory, "-o", out).code == 0
    return out


def test_an_alias_bomb_in_a_blackout_file_is_refused_before_it_expands(
    pdn: Callable[..., Outcome], inventory: Path, planned: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "blackouts.yaml"
    bad.write_text("\n".join(["blackouts: []", *bomb(9, 9)]) + "\n", encoding="utf-8")  # 387 million values
    assert bad.stat().st_size < 1000
    before, plan = tree(tmp_path), (planned / "plan.csv").read_bytes()
    result = pdn("migrate", "plan", "--no-chart", "--blackouts", bad, "-i", inventory, "-o", planned)
    assert result.code == 2
    assert f"{bad}:" in result.err and "expands to more than 200,000 values (through aliases)" in result.err
    assert (planned / "plan.csv").read_bytes() == plan  # nothing half-written
    assert written_outside(tmp_path, planned, before) == set()


def test_an_alias_bomb_in_a_catalog_is_refused(
    pdn: Callable[..., Outcome], inventory: Path, planned: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "superapps.yaml"
    bad.write_text("\n".join(["superapps: []", "notes:", *bomb(8, 10, "  ")]) + "\n", encoding="utf-8")
    result = pdn("migrate", "consolidate", "--catalog", bad, "-i", inventory, "-o", planned)
    assert result.code == 2
    assert f"{bad}:" in result.err and "expands to more than" in result.err


def test_a_recursive_alias_in_a_catalog_is_refused(
    pdn: Callable[..., Outcome], inventory: Path, planned: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "superapps.yaml"
    bad.write_text("superapps: []\nloop: &loop [*loop]\n", encoding="utf-8")
    result = pdn("migrate", "consolidate", "--catalog", bad, "-i", inventory, "-o", planned)
    assert result.code == 2, result.text
    assert f"{bad}:2: a YAML alias refers to a value that contains it (recursive)" in result.err


def test_deep_nesting_in_a_blackout_file_is_refused(
    pdn: Callable[..., Outcome], inventory: Path, planned: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "blackouts.yaml"
    bad.write_text("blackouts: []\nx: " + "[" * 100 + "]" * 100 + "\n", encoding="utf-8")
    result = pdn("migrate", "plan", "--no-chart", "--blackouts", bad, "-i", inventory, "-o", planned)
    assert result.code == 2
    assert f"{bad}:2: nesting is deeper than 64 levels" in result.err


def test_a_tenants_file_with_an_alias_bomb_is_refused(tmp_path: Path) -> None:
    from pdn.errors import InputError
    from pdn.stacks.workspace import read_tenants_file

    bad = tmp_path / "tenants.yaml"
    bad.write_text("\n".join(["defs:", *bomb(8, 10, "  "), "cikarang: [{name: a}]"]) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"tenants\.yaml:\d+: expands to more than"):
        read_tenants_file(bad)


# --- inventories (untrusted) -----------------------------------------------------------------------


def yaml_inventory(inventory: Path, tmp_path: Path, extra: list[str], field: str) -> Path:
    """The CSV inventory as ``{defs: ..., apps: [...]}`` YAML, with ``field`` added to the third app."""
    header, rows = read_rows(inventory / "inventory.csv")
    folder = tmp_path / "yaml-inventory"
    folder.mkdir()
    (folder / "datacenters.csv").write_bytes((inventory / "datacenters.csv").read_bytes())
    lines = ["defs:", *extra, "apps:"]
    for index, row in enumerate(rows):
        lines.append("  - " + json.dumps(row[0]).join(["app_id: ", ""]))
        lines += [f"    {column}: {json.dumps(value)}" for column, value in zip(header[1:], row[1:], strict=True)]
        if index == 2:
            lines.append(f"    {field}")
    (folder / "inventory.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def test_a_yaml_inventory_whose_aliases_expand_to_ten_million_values_is_refused(
    pdn: Callable[..., Outcome], inventory: Path, tmp_path: Path
) -> None:
    folder = yaml_inventory(inventory, tmp_path, bomb(7, 10, "  "), "notes: *l6")
    result = pdn("migrate", "validate", "-i", folder, "-o", tmp_path / "out")
    assert result.code == 2
    assert f"{folder / 'inventory.yaml'}:" in result.err and "expands to more than 5,000,000 values" in result.err


def test_a_yaml_inventory_with_a_duplicate_key_is_refused(
    pdn: Callable[..., Outcome], inventory: Path, tmp_path: Path
) -> None:
    folder = yaml_inventory(inventory, tmp_path, ["  none: {}"], 'app_id: "APP-000099"')  # a second app_id
    text = (folder / "inventory.yaml").read_text(encoding="utf-8").splitlines()
    line = text.index('    app_id: "APP-000099"') + 1
    result = pdn("migrate", "validate", "-i", folder, "-o", tmp_path / "out")
    assert result.code == 2
    assert f"{folder / 'inventory.yaml'}:{line}: duplicate key 'app_id'" in result.err


def test_a_json_inventory_with_a_duplicate_key_is_refused(
    pdn: Callable[..., Outcome], inventory: Path, tmp_path: Path
) -> None:
    header, rows = read_rows(inventory / "inventory.csv")
    records = [dict(zip(header, row, strict=True)) for row in rows]
    text = json.dumps(records, indent=1).replace('"app_id": "APP-000003"', '"app_id": "APP-000003", "app_id": "X"')
    folder = tmp_path / "json-inventory"
    folder.mkdir()
    (folder / "inventory.json").write_text(text, encoding="utf-8")
    (folder / "datacenters.csv").write_bytes((inventory / "datacenters.csv").read_bytes())
    line = text[: text.index('"app_id": "APP-000003"')].count("\n")  # the line of the record's "{"
    result = pdn("migrate", "validate", "-i", folder, "-o", tmp_path / "out")
    assert result.code == 2
    assert f"{folder / 'inventory.json'}:{line}: duplicate key 'app_id' in an object" in result.err


def test_a_deeply_nested_json_inventory_is_refused(
    pdn: Callable[..., Outcome], inventory: Path, tmp_path: Path
) -> None:
    header, rows = read_rows(inventory / "inventory.csv")
    records: list[dict[str, object]] = [dict(zip(header, row, strict=True)) for row in rows]
    nested: object = "x"
    for _ in range(200):
        nested = [nested]
    records[5]["notes"] = nested
    folder = tmp_path / "json-inventory"
    folder.mkdir()
    (folder / "inventory.json").write_text(json.dumps(records), encoding="utf-8")
    (folder / "datacenters.csv").write_bytes((inventory / "datacenters.csv").read_bytes())
    result = pdn("migrate", "validate", "-i", folder, "-o", tmp_path / "out")
    assert result.code == 2
    assert f"{folder / 'inventory.json'}:1: nesting is deeper than 64 levels" in result.err


def test_a_byte_order_mark_is_not_a_missing_column(
    pdn: Callable[..., Outcome], inventory: Path, tmp_path: Path
) -> None:
    path = inventory / "inventory.csv"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    result = pdn("migrate", "validate", "-i", inventory, "-o", tmp_path / "out")
    assert result.code == 0, result.text


def test_a_duplicate_csv_header_is_refused(pdn: Callable[..., Outcome], inventory: Path, tmp_path: Path) -> None:
    path = inventory / "inventory.csv"
    header, rows = read_rows(path)
    write_rows(path, [*header, "name"], [[*row, "a second name"] for row in rows])
    result = pdn("migrate", "validate", "-i", inventory, "-o", tmp_path / "out")
    assert result.code == 2
    column = len(header) + 1
    assert f"{path}:1: name: duplicate column (columns 2 and {column})" in result.err


def test_a_fifo_as_inventory_is_refused_without_blocking(inventory: Path, tmp_path: Path) -> None:
    (inventory / "inventory.csv").unlink()
    os.mkfifo(inventory / "inventory.csv")
    result = pdn_process("migrate", "validate", "-i", inventory / "inventory.csv", "-o", tmp_path / "out", timeout=30)
    assert result.code == 2, result.text
    assert "inventory.csv: is not a regular file (it is a FIFO)" in result.err
