"""validate: every kind of invalid input is reported with file, line and field; nothing else runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pdn.cli import app as cli
from pdn.migrate import inventory
from pdn.migrate.inventory import InventoryError

runner = CliRunner()


def _edit(path: Path, line: int, column: str, value: str) -> None:
    """Set ``column`` of CSV ``line`` (1-based, header is line 1) to ``value``."""
    import csv
    import io

    text = path.read_text(encoding="utf-8").splitlines()
    header = next(csv.reader([text[0]]))
    cells = next(csv.reader([text[line - 1]]))
    cells[header.index(column)] = value
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(cells)
    text[line - 1] = buffer.getvalue()
    path.write_text("\n".join(text) + "\n", encoding="utf-8")


def _problems(folder: Path) -> list[str]:
    with pytest.raises(InventoryError) as caught:
        inventory.load(folder)
    return [str(problem) for problem in caught.value.problems]


def test_valid_inventory_loads_with_extra_columns(small_inventory: Path) -> None:
    loaded = inventory.load(small_inventory)
    assert len(loaded.apps) == 1500
    assert loaded.extra_columns == ("contact_unit",)
    assert all("contact_unit" in app.extra for app in loaded.apps)


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("legacy_dc", "DC-99999", "unknown data centre 'DC-99999'"),
        ("depends_on", "APP-999999", "unknown application 'APP-999999'"),
        ("depends_on", "APP-000005", "application depends on itself"),
        ("agency_type", "kecamatan", "'kecamatan' is not one of ministry|agency|province|regency|city"),
        ("runtime", "mainframe", "'mainframe' is not one of"),
        ("classification", "top-secret", "'top-secret' is not one of"),
        ("criticality", "urgent", "'urgent' is not one of"),
        ("status", "running", "'running' is not one of"),
        ("last_release", "2019-02-30", "is not an ISO date"),
        ("last_release", "31/12/2019", "is not an ISO date"),
        ("last_release", "2999-01-01", "is in the future"),
        ("data_gb", "12,5", "is not a number"),
        ("data_gb", "-3", "must be a finite number >= 0"),
        ("data_gb", "nan", "must be a finite number >= 0"),
        ("monthly_users", "1.5", "is not an integer"),
        ("name", "", "is empty"),
    ],
)
def test_each_bad_value_is_reported_with_line_and_field(
    inventory_copy: Path, column: str, value: str, message: str
) -> None:
    path = inventory_copy / "inventory.csv"
    _edit(path, 6, column, value)  # line 6 = APP-000005
    problems = _problems(inventory_copy)
    assert any(p.startswith(f"{path}:6: {column}: ") and message in p for p in problems), problems


def test_duplicate_ids_name_both_lines(inventory_copy: Path) -> None:
    path = inventory_copy / "inventory.csv"
    _edit(path, 9, "app_id", "APP-000003")
    problems = _problems(inventory_copy)
    assert any(p.startswith(f"{path}:9: app_id: duplicate app_id 'APP-000003' (first on line 4)") for p in problems)


def test_duplicate_datacenter(inventory_copy: Path) -> None:
    path = inventory_copy / "datacenters.csv"
    _edit(path, 3, "dc_id", "DC-00001")
    assert any(p.startswith(f"{path}:3: dc_id: duplicate dc_id") for p in _problems(inventory_copy))


def test_missing_column_and_ragged_row(inventory_copy: Path) -> None:
    path = inventory_copy / "inventory.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[0] = lines[0].replace("criticality", "crit")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert f"{path}:1: criticality: required column is missing" in _problems(inventory_copy)
    lines[0] = lines[0].replace("crit,", "criticality,")
    lines[10] = lines[10] + ",extra-cell"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert any(p.startswith(f"{path}:11: row has 18 cells, header has 17") for p in _problems(inventory_copy))


def test_multiline_cells_keep_true_line_numbers(inventory_copy: Path) -> None:
    path = inventory_copy / "inventory.csv"
    _edit(path, 3, "description", "first line\nsecond line")  # row 3 now spans lines 3-4
    _edit(path, 6, "status", "bogus")  # originally line 5 (APP-000004), now on line 6
    problems = _problems(inventory_copy)
    assert any(p.startswith(f"{path}:6: status:") for p in problems), problems


def test_not_utf8_and_empty_files(inventory_copy: Path) -> None:
    path = inventory_copy / "inventory.csv"
    path.write_bytes(path.read_bytes().replace(b"Kementerian", b"Kementer\xe9an", 1))
    assert any("not UTF-8" in p for p in _problems(inventory_copy))
    path.write_text("", encoding="utf-8")
    assert any("file is empty" in p for p in _problems(inventory_copy))


def test_yaml_and_json_inputs(small_inventory: Path, tmp_path: Path) -> None:
    from pdn.migrate.generate import generate

    for fmt in ("json", "yaml"):
        folder = tmp_path / fmt
        generate(folder, apps=200, datacenters=40, seed=7, fmt=fmt)
        loaded = inventory.load(folder)
        assert len(loaded.apps) == 200
    data = (tmp_path / "yaml" / "inventory.yaml").read_text(encoding="utf-8")
    (tmp_path / "yaml" / "inventory.yaml").write_text(data.replace("status: active", "status: zombie", 1))
    problems = _problems(tmp_path / "yaml")
    assert any(
        ":status: 'zombie' is not one of" in p.replace(": status", ":status") or "status: 'zombie'" in p
        for p in problems
    )
    assert all(":0:" not in p for p in problems), "YAML problems carry a line"
    records = json.loads((tmp_path / "json" / "inventory.json").read_text(encoding="utf-8"))
    records[3]["data_gb"] = "lots"
    (tmp_path / "json" / "inventory.json").write_text(json.dumps(records), encoding="utf-8")
    assert any("[3].data_gb: 'lots' is not a number" in p for p in _problems(tmp_path / "json"))


def test_cli_validate_exit_code_and_problems_file(inventory_copy: Path, tmp_path: Path) -> None:
    from pdn.console import run_guarded

    out = tmp_path / "out"
    _edit(inventory_copy / "inventory.csv", 5, "legacy_dc", "NOWHERE")
    with pytest.raises(SystemExit) as stop:
        run_guarded(
            lambda: cli(["migrate", "validate", "-i", str(inventory_copy), "-o", str(out)], standalone_mode=False)
        )
    assert stop.value.code == 2
    problems = (out / "problems.csv").read_text(encoding="utf-8").splitlines()
    assert len(problems) == 2 and "legacy_dc" in problems[1] and ",5," in problems[1]
    assert json.loads((out / "validation.json").read_text())["valid"] is False


def test_no_stage_runs_on_invalid_input(inventory_copy: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    _edit(inventory_copy / "inventory.csv", 5, "depends_on", "APP-000004")  # self dependency
    for stage in ("assess", "dedup", "plan", "run"):
        result = runner.invoke(cli, ["migrate", stage, "-i", str(inventory_copy), "-o", str(out)])
        assert result.exit_code != 0, stage
    assert sorted(p.name for p in out.iterdir()) == [], "nothing may be written"
