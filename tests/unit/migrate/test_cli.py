"""The CLI end to end on a small inventory: stage order, hints, the per-app trail, idempotence."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from pdn.cli import app as cli

runner = CliRunner()


def test_stages_in_order_and_trail(small_inventory: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    common = ["-i", str(small_inventory), "-o", str(out)]
    early = runner.invoke(cli, ["migrate", "plan", *common])
    assert early.exit_code != 0 and "run `pdn migrate consolidate` first" in str(early.exception.hint)  # type: ignore[union-attr]
    for stage in (
        ["validate"],
        ["assess", "--as-of", "2026-11-01"],
        ["dedup", "--labels", str(small_inventory / "labels.csv")],
        ["consolidate"],
        ["plan", "--no-chart"],
        ["runbook"],
        ["render", "--wave", "1"],
    ):
        result = runner.invoke(cli, ["migrate", *stage, *common])
        assert result.exit_code == 0, (stage, result.output, result.exception)
    assert (
        "F1"
        in runner.invoke(cli, ["migrate", "dedup", "--labels", str(small_inventory / "labels.csv"), *common]).output
    )
    wave1 = next(
        line.split(",")[0] for line in (out / "plan.csv").read_text().splitlines()[1:] if line.split(",")[1] == "1"
    )
    shown = runner.invoke(cli, ["migrate", "show", wave1, "--json", *common])
    assert shown.exit_code == 0, shown.output
    trail = json.loads(shown.output)
    assert list(trail) == [
        "inventory",
        "assess",
        "dedup",
        "consolidate",
        "datasets",
        "plan",
        "runbook",
        "render",
        "copy/verify",
    ]
    assert trail["plan"]["wave"] == "1" and trail["render"].endswith(".yaml")
    assert trail["inventory"]["contact_unit"]  # extra columns travel with the app
    missing = runner.invoke(cli, ["migrate", "show", "APP-NOPE", *common])
    assert missing.exit_code != 0


def test_input_files_are_never_touched(inventory_copy: Path) -> None:
    """Even with --out pointing at the inventory folder, the inputs stay byte-identical."""
    before = {p.name: p.read_bytes() for p in inventory_copy.iterdir()}
    result = runner.invoke(cli, ["migrate", "run", "--no-chart", "-i", str(inventory_copy), "-o", str(inventory_copy)])
    assert result.exit_code == 0, result.output
    assert (inventory_copy / "plan.csv").is_file()
    assert {p.name: p.read_bytes() for p in inventory_copy.iterdir() if p.name in before} == before
